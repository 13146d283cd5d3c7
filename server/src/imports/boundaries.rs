//! Grid boundaries from a GeoJSON FeatureCollection: one Polygon or MultiPolygon feature per
//! grid, with properties `name`, optional `id`, and `village` (name or id; the `--village`
//! option otherwise). A feature whose `id`, or whose name within the village, matches an
//! existing grid updates that grid's boundary; any other creates a grid through
//! `services::areas` (the admin API's validation).
//!
//! Records keep the scope they were written in (SYNC.md), so no household is moved: the
//! result tells, per grid, how many live households of its village lie inside the new
//! boundary and how many of those are filed in another scope (the village, or another grid).

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value, json};

use super::areas::AreaIndex;
use super::{Input, Progress, Report, RowError, State, Stop, settle, table};
use crate::db::audit::{self, NewEntry};
use crate::db::{self, DbConn, now_ms, records};
use crate::domain::geo;
use crate::error::{ApiError, ApiResult};
use crate::services::areas::{self as area_service, NewArea};

/// One feature, checked.
struct Plan {
    number: usize,
    id: Option<String>,
    name: String,
    village: String,
    boundary: Value,
}

/// Reads, validates and (unless a dry run) writes grid boundaries.
pub fn run(conn: &mut DbConn, input: &Input, progress: &Progress) -> ApiResult<Report> {
    let parsed = table::decode_text(&input.bytes).and_then(|t| {
        serde_json::from_str::<Value>(&t).map_err(|e| format!("GeoJSON 格式错误：{e}"))
    });
    let doc = match parsed {
        Ok(v) => v,
        Err(m) => {
            return Ok(Report::rejected(
                vec![RowError::file("unreadable_file", m)],
                0,
                0,
            ));
        }
    };
    let features: Vec<Value> = match doc.get("type").and_then(Value::as_str) {
        Some("FeatureCollection") => doc
            .get("features")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        Some("Feature") => vec![doc.clone()],
        _ => {
            return Ok(Report::rejected(
                vec![RowError::file(
                    "unreadable_file",
                    "文件必须是 GeoJSON FeatureCollection（每个网格一个 Feature）",
                )],
                0,
                0,
            ));
        }
    };
    let total = features.len() as u64;
    progress.phase(1, total);
    let areas = AreaIndex::new(db::areas::list(conn)?);
    let mut errors = Vec::new();
    let mut plans = Vec::new();
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for (i, feature) in features.iter().enumerate() {
        progress.step();
        let number = i + 1;
        let err = |column: &str, code: &str, m: String| RowError {
            row: number,
            column: Some(column.to_owned()),
            code: code.to_owned(),
            message: format!("第 {number} 个要素「{column}」：{m}"),
        };
        let props = feature
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let text = |k: &str| match props.get(k) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let Some(name) = text("name") else {
            errors.push(err("name", "missing_value", "缺少网格名称 name".into()));
            continue;
        };
        let village = match text("village").or_else(|| input.village.clone()) {
            Some(v) => match areas.find(&v, "village", None) {
                Ok(a) => a.id.clone(),
                Err(m) => {
                    errors.push(err("village", "unknown_area", m));
                    continue;
                }
            },
            None => {
                errors.push(err(
                    "village",
                    "missing_value",
                    "缺少所属村(居) village（或在导入时指定村）".into(),
                ));
                continue;
            }
        };
        let boundary = match geo::parse_boundary(feature) {
            Ok(b) => b,
            Err(m) => {
                errors.push(err("geometry", "invalid_geometry", m));
                continue;
            }
        };
        let id = text("id");
        if let Some(id) = &id
            && let Some(existing) = areas.get(id)
            && (existing.level != "grid" || existing.parent_id.as_deref() != Some(&village))
        {
            errors.push(err(
                "id",
                "invalid_value",
                format!("编号 {id} 已属于另一区域「{}」", existing.name),
            ));
            continue;
        }
        let key = (village.clone(), id.clone().unwrap_or_else(|| name.clone()));
        if let Some(first) = seen.insert(key, number) {
            errors.push(err(
                "name",
                "duplicate_feature",
                format!("与第 {first} 个要素是同一网格"),
            ));
            continue;
        }
        plans.push(Plan {
            number,
            id,
            name,
            village,
            boundary,
        });
    }
    if !errors.is_empty() {
        return Ok(Report::rejected(errors, total, total));
    }
    let out = db::write_tx(conn, |conn| write(conn, input, progress, &areas, &plans));
    settle(out, total, total)
}

fn write(
    conn: &mut DbConn,
    input: &Input,
    progress: &Progress,
    areas: &AreaIndex,
    plans: &[Plan],
) -> Result<Report, Stop> {
    progress.phase(2, plans.len() as u64);
    let now = now_ms();
    let mut errors = Vec::new();
    let mut grids = Vec::new();
    let (mut created, mut updated) = (0u64, 0u64);
    for plan in plans {
        progress.step();
        let existing = match &plan.id {
            Some(id) => areas.get(id),
            None => areas.find(&plan.name, "grid", Some(&plan.village)).ok(),
        };
        let (id, action) = match existing {
            Some(grid) => {
                if plan.name.chars().count() > 100 {
                    errors.push(RowError {
                        row: plan.number,
                        column: Some("name".into()),
                        code: "invalid_value".into(),
                        message: format!(
                            "第 {} 个要素「name」：区域名称需为 1–100 个字符",
                            plan.number
                        ),
                    });
                    continue;
                }
                db::areas::set_boundary(
                    conn,
                    &grid.id,
                    &plan.name,
                    &plan.boundary.to_string(),
                    now,
                )?;
                audit::record(
                    conn,
                    &NewEntry::new(Some(&input.user_id), "area_boundary_imported")
                        .target("area", &grid.id)
                        .detail(json!({"name": plan.name})),
                )?;
                updated += 1;
                (grid.id.clone(), "updated")
            }
            None => {
                let new = NewArea {
                    id: plan.id.clone(),
                    name: plan.name.clone(),
                    level: "grid".into(),
                    parent_id: Some(plan.village.clone()),
                    boundary: Some(plan.boundary.clone()),
                    qr_link: None,
                    wechat_group: None,
                };
                match area_service::create(conn, new, Some(&input.user_id)) {
                    Ok(row) => {
                        created += 1;
                        (row.id, "created")
                    }
                    Err(ApiError::Http { message, extra, .. }) => {
                        let column = extra
                            .get("field")
                            .and_then(Value::as_str)
                            .unwrap_or("properties")
                            .to_owned();
                        errors.push(RowError {
                            row: plan.number,
                            message: format!("第 {} 个要素「{column}」：{message}", plan.number),
                            column: Some(column),
                            code: "invalid_value".into(),
                        });
                        continue;
                    }
                    Err(e) => return Err(Stop::Api(e)),
                }
            }
        };
        grids.push((plan, id, action));
    }
    if !errors.is_empty() {
        return Err(Stop::Rows(errors));
    }
    // Households of each touched village (its own scope and its grids'), with a location.
    let villages: BTreeSet<&str> = plans.iter().map(|p| p.village.as_str()).collect();
    let mut located: HashMap<&str, Vec<(String, f64, f64)>> = HashMap::new();
    for village in villages {
        let mut scopes = vec![village.to_owned()];
        scopes.extend(
            db::areas::list(conn)?
                .into_iter()
                .filter(|a| a.parent_id.as_deref() == Some(village))
                .map(|a| a.id),
        );
        let mut points = Vec::new();
        for scope in scopes {
            for row in records::live_of_entity(conn, "household", &scope)? {
                let fields: Map<String, Value> =
                    serde_json::from_str(&row.fields).unwrap_or_default();
                if let (Some(lng), Some(lat)) = (
                    fields.get("lng").and_then(Value::as_f64),
                    fields.get("lat").and_then(Value::as_f64),
                ) {
                    points.push((row.scope.clone(), lng, lat));
                }
            }
        }
        located.insert(village, points);
    }
    let report_grids: Vec<Value> = grids
        .iter()
        .map(|(plan, id, action)| {
            let inside: Vec<&(String, f64, f64)> = located[plan.village.as_str()]
                .iter()
                .filter(|(_, lng, lat)| geo::covers(&plan.boundary, *lng, *lat))
                .collect();
            let elsewhere = inside.iter().filter(|(scope, _, _)| scope != id).count();
            json!({
                "feature": plan.number, "id": id, "name": plan.name, "village_id": plan.village,
                "action": action, "households_inside": inside.len(),
                "households_inside_filed_elsewhere": elsewhere,
            })
        })
        .collect();
    let mut result = Map::new();
    result.insert("created".into(), json!({"grids": created}));
    result.insert("updated".into(), json!({"grids": updated}));
    result.insert("grids".into(), Value::Array(report_grids));
    result.insert(
        "note".into(),
        json!("已有住户不会自动移入新网格（记录的所属区域写入后不变）；households_inside 为位于该网格边界内的住户数，其中 households_inside_filed_elsewhere 户登记在其他区域，需要时请由网格员核实"),
    );
    let report = Report {
        state: State::Done,
        processed: plans.len() as u64,
        total: plans.len() as u64,
        errors: Vec::new(),
        result,
        passwords: Vec::new(),
    };
    if input.dry_run {
        return Err(Stop::DryRun(Box::new(report)));
    }
    Ok(report)
}
