//! The desk side's numbers: the campaign configuration, dashboards per area, the village
//! ranking, fraud cases and candidate model villages. Counts only, no personal data.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::{AdminUser, AuthUser};
use crate::db::areas::AreaRow;
use crate::db::campaign::{self as cases_db, NewCase};
use crate::db::{self, now_ms};
use crate::domain::account::Role;
use crate::domain::calendar::{self, parse_date};
use crate::domain::campaign::Campaign;
use crate::error::{ApiError, ApiResult};
use crate::reports::figures::Figures;
use crate::reports::{self, poster, ranking};
use crate::services;
use crate::state::AppState;
use crate::sync::scopes::{Access, AreaTree};

/// A deadline with the days left (negative once passed).
#[derive(Serialize)]
struct Deadline {
    label: &'static str,
    date: String,
    days_left: i64,
}

fn deadlines(c: &Campaign, now_ms: i64) -> Vec<Deadline> {
    let today = calendar::date_of_ms(now_ms);
    let days = |d: &str| parse_date(d).map_or(0, |(y, m, dd)| calendar::days_from_civil(y, m, dd));
    c.deadlines()
        .into_iter()
        .map(|(label, date)| Deadline {
            label,
            date: date.to_owned(),
            days_left: days(date) - days(&today),
        })
        .collect()
}

/// `GET /api/campaign`: the configuration in force, its version and the deadlines.
pub async fn campaign(_: AuthUser, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let start = state.sync.campaign_start.clone();
    let (version, config) = db::run(&state.pool, move |conn| {
        services::campaign::current(conn, &start)
    })
    .await?;
    let now = now_ms();
    Ok(HttpResponse::Ok().json(json!({
        "version": version,
        "config": config,
        "deadlines": deadlines(&config, now),
    })))
}

/// `PUT /api/admin/campaign`: a new version. A changed start date changes which visits
/// count, so every flag is recomputed in the same transaction.
pub async fn set_campaign(
    admin: AdminUser,
    state: web::Data<AppState>,
    body: web::Json<Campaign>,
) -> ApiResult<HttpResponse> {
    let config = body.into_inner();
    let st = state.clone();
    let (version, recomputed) = db::run_tx(&state.pool, move |conn| {
        let now = now_ms();
        let (_, before) = services::campaign::current(conn, &st.sync.campaign_start)?;
        let version = services::campaign::save(conn, &config, &admin.0.id, now)?;
        let recomputed = if before.dates.start != config.dates.start {
            Some(crate::flags::recompute_all(conn, &st.sync, now)?)
        } else {
            None
        };
        Ok((version, recomputed))
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({"version": version, "flags_recomputed": recomputed})))
}

/// `GET /api/admin/campaign/versions`: every version, newest first.
pub async fn campaign_versions(
    _: AdminUser,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let rows = db::run(&state.pool, |conn| Ok(cases_db::versions(conn)?)).await?;
    let list: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|r| {
            json!({
                "version": r.version,
                "config": serde_json::from_str::<serde_json::Value>(&r.config).unwrap_or_default(),
                "created_by": r.created_by,
                "created_at_ms": r.created_at_ms,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

/// Query of a dashboard.
#[derive(Deserialize)]
pub struct DashboardQuery {
    area: Option<String>,
}

/// Headline rates of an area's figures (`null` when there is nothing to count).
fn rates(f: &Figures) -> serde_json::Value {
    let r = |part: u64, whole: u64| (whole > 0).then(|| part as f64 / whole as f64);
    json!({
        "registration_rate": r(f.registered, f.households),
        "visit_coverage": r(f.visited, f.households),
        "sweep_coverage": r(f.inspected, f.rentals),
        "tenant_registration": r(f.tenants_registered, f.occupants_observed),
    })
}

fn area_json(a: &AreaRow) -> serde_json::Value {
    json!({"id": a.id, "name": a.name, "level": a.level, "parent_id": a.parent_id})
}

/// `GET /api/reports/dashboard?area=ID`: an area's figures with its children's beside them,
/// the trend by day and the deadlines. Without `area`: the user's first top area. Areas the
/// user does not hold: 404.
pub async fn dashboard(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<DashboardQuery>,
) -> ApiResult<HttpResponse> {
    let wanted = query.into_inner().area;
    let st = state.clone();
    let body = db::run(&state.pool, move |conn| {
        let now = now_ms();
        let tree = AreaTree::load(conn)?;
        let access = Access::load(conn, &user.id, user.role, &tree)?;
        let areas: BTreeMap<String, AreaRow> = db::areas::list(conn)?
            .into_iter()
            .map(|a| (a.id.clone(), a))
            .collect();
        let held = access.current();
        // Top areas: held, with a parent not held.
        let roots: Vec<&AreaRow> = areas
            .values()
            .filter(|a| held.contains(&a.id))
            .filter(|a| a.parent_id.as_ref().is_none_or(|p| !held.contains(p)))
            .collect();
        let area = match &wanted {
            Some(id) => areas.get(id).filter(|a| held.contains(&a.id)),
            None => roots.first().copied(),
        }
        .ok_or_else(|| ApiError::not_found("区域不存在或不在您的管辖范围内"))?;
        let (version, campaign) = services::campaign::current(conn, &st.sync.campaign_start)?;
        let scopes: BTreeSet<String> = tree.expand([&area.id]);
        let per = reports::per_scope(conn, &scopes, &campaign, now)?;
        let total = reports::total(&tree, &per, &area.id);
        let children: Vec<serde_json::Value> = areas
            .values()
            .filter(|a| a.parent_id.as_deref() == Some(area.id.as_str()))
            .map(|child| {
                let mut f = reports::total(&tree, &per, &child.id);
                f.trend.clear();
                json!({"area": area_json(child), "figures": f, "rates": rates(&f)})
            })
            .collect();
        Ok(json!({
            "area": area_json(area),
            "roots": roots.iter().map(|a| area_json(a)).collect::<Vec<_>>(),
            "campaign": {"version": version, "name": campaign.name, "start": campaign.dates.start, "targets": campaign.targets},
            "figures": total,
            "rates": rates(&total),
            "children": children,
            "deadlines": deadlines(&campaign, now),
            "generated_at_ms": now,
        }))
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /api/reports/ranking`: every village scored and ranked, with each line's arithmetic.
pub async fn ranking(_: AuthUser, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let st = state.clone();
    let body = db::run(&state.pool, move |conn| {
        let now = now_ms();
        let (version, campaign) = services::campaign::current(conn, &st.sync.campaign_start)?;
        Ok(json!({
            "campaign_version": version,
            "campaign": campaign.name,
            "generated_at_ms": now,
            "villages": ranked(conn, &campaign, now)?,
        }))
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// Every village's figures, scored and ranked (also used by the ranking export).
pub fn ranked(
    conn: &mut db::DbConn,
    campaign: &Campaign,
    now: i64,
) -> ApiResult<Vec<ranking::Ranked>> {
    let tree = AreaTree::load(conn)?;
    let villages: Vec<AreaRow> = db::areas::list(conn)?
        .into_iter()
        .filter(|a| a.level == "village")
        .collect();
    let scopes = tree.expand(villages.iter().map(|v| &v.id));
    let per = reports::per_scope(conn, &scopes, campaign, now)?;
    let figures: Vec<(String, String, Figures)> = villages
        .iter()
        .map(|v| {
            (
                v.id.clone(),
                v.name.clone(),
                reports::total(&tree, &per, &v.id),
            )
        })
        .collect();
    let cases = cases_db::cases(conn, None)?;
    Ok(ranking::rank(&figures, &cases, campaign))
}

/// Body of a fraud case report.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseInput {
    village_id: String,
    /// `YYYY-MM`.
    period: String,
    cases: i64,
    #[serde(default)]
    victims: Option<i64>,
    #[serde(default)]
    suspects: i64,
    #[serde(default)]
    loss_yuan: i64,
    #[serde(default)]
    notes: Option<String>,
}

/// `POST /api/cases`: police or admins report fraud cases of a village and month.
pub async fn add_case(
    user: AuthUser,
    state: web::Data<AppState>,
    body: web::Json<CaseInput>,
) -> ApiResult<HttpResponse> {
    if !matches!(user.role, Role::Police | Role::Admin) {
        return Err(ApiError::new(
            actix_web::http::StatusCode::FORBIDDEN,
            "forbidden",
            "只有民警和管理员可以登记案件",
        ));
    }
    let input = body.into_inner();
    let month_ok = input.period.len() == 7 && parse_date(&format!("{}-01", input.period)).is_some();
    if !month_ok {
        return Err(ApiError::invalid_field(
            "period",
            "月份格式应为 YYYY-MM，如 2021-05",
        ));
    }
    for (field, n) in [
        ("cases", input.cases),
        ("victims", input.victims.unwrap_or(0)),
        ("suspects", input.suspects),
        ("loss_yuan", input.loss_yuan),
    ] {
        if !(0..=1_000_000_000).contains(&n) {
            return Err(ApiError::invalid_field(field, "应为不小于 0 的整数"));
        }
    }
    if input
        .notes
        .as_ref()
        .is_some_and(|n| n.chars().count() > 2000)
    {
        return Err(ApiError::invalid_field("notes", "备注最多 2000 字"));
    }
    if input.notes.as_ref().is_some_and(|n| n.contains('\0')) {
        return Err(ApiError::invalid_field("notes", "备注不能包含空字符"));
    }
    let row = db::run_tx(&state.pool, move |conn| {
        let tree = AreaTree::load(conn)?;
        let access = Access::load(conn, &user.id, user.role, &tree)?;
        let village = db::areas::get(conn, &input.village_id)?
            .filter(|a| a.level == "village" && access.current().contains(&a.id))
            .ok_or_else(|| {
                ApiError::invalid_field("village_id", "村（社区）不存在或不在您的辖区内")
            })?;
        Ok(cases_db::add_case(
            conn,
            &NewCase {
                village_id: village.id,
                period: input.period,
                cases: input.cases,
                victims: input.victims.unwrap_or(input.cases),
                suspects: input.suspects,
                loss_yuan: input.loss_yuan,
                notes: input.notes,
                created_by: user.id.clone(),
                created_at_ms: now_ms(),
            },
        )?)
    })
    .await?;
    Ok(HttpResponse::Created().json(row))
}

/// Query of the case list.
#[derive(Deserialize)]
pub struct CasesQuery {
    village: Option<String>,
}

/// `GET /api/cases?village=ID`: case reports of the villages the user holds.
pub async fn list_cases(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<CasesQuery>,
) -> ApiResult<HttpResponse> {
    let village = query.into_inner().village;
    let rows = db::run(&state.pool, move |conn| {
        let tree = AreaTree::load(conn)?;
        let access = Access::load(conn, &user.id, user.role, &tree)?;
        Ok(cases_db::cases(conn, village.as_deref())?
            .into_iter()
            .filter(|c| access.current().contains(&c.village_id))
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(HttpResponse::Ok().json(rows))
}

/// `PUT /api/admin/model-villages/{id}`: names a village a candidate model village.
pub async fn name_model(
    admin: AdminUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    db::run_tx(&state.pool, move |conn| {
        db::areas::get(conn, &id)?
            .filter(|a| a.level == "village")
            .ok_or_else(|| ApiError::not_found("村（社区）不存在"))?;
        Ok(cases_db::name_model(conn, &id, &admin.0.id, now_ms())?)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /api/admin/model-villages/{id}`: withdraws a candidacy.
pub async fn unname_model(
    _: AdminUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    db::run_tx(&state.pool, move |conn| {
        Ok(cases_db::unname_model(conn, &id)?)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/reports/model-villages`: each candidate the user may see, with the "three
/// nones" (无电信网络诈骗犯罪示范村) judged from recorded data and the evidence for each.
pub async fn model_villages(user: AuthUser, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let st = state.clone();
    let body = db::run(&state.pool, move |conn| {
        let now = now_ms();
        let tree = AreaTree::load(conn)?;
        let access = Access::load(conn, &user.id, user.role, &tree)?;
        let (_, campaign) = services::campaign::current(conn, &st.sync.campaign_start)?;
        let mut out = Vec::new();
        for id in cases_db::model_ids(conn)? {
            if !access.current().contains(&id) {
                continue;
            }
            let Some(village) = db::areas::get(conn, &id)? else {
                continue;
            };
            let scopes = tree.expand([&id]);
            let per = reports::per_scope(conn, &scopes, &campaign, now)?;
            let f = reports::total(&tree, &per, &id);
            let cases = cases_db::cases(conn, Some(&id))?;
            let victims: i64 = cases.iter().map(|c| c.victims).sum();
            let suspects: i64 = cases.iter().map(|c| c.suspects).sum();
            let red_open: u64 = f
                .flags
                .get("fraud_risk")
                .and_then(|l| l.get("red"))
                .map_or(0, |s| s.values().sum());
            out.push(json!({
                "village": area_json(&village),
                "three_nones": [
                    {"code": "no_victim", "label": "无本地居民被骗", "met": victims == 0,
                     "evidence": format!("已登记案件 {} 起，受害居民 {victims} 人", cases.iter().map(|c| c.cases).sum::<i64>())},
                    {"code": "no_suspect", "label": "无本地居民涉案", "met": suspects == 0,
                     "evidence": format!("涉案本地居民 {suspects} 人")},
                    {"code": "no_den", "label": "无涉诈窝点", "met": f.dens_confirmed == 0,
                     "evidence": format!(
                         "出租房 {} 处，已排查 {} 处；民警确认窝点 {} 处；待核查红色提示 {red_open} 条",
                         f.rentals, f.inspected, f.dens_confirmed)},
                ],
                "all_met": victims == 0 && suspects == 0 && f.dens_confirmed == 0,
                "cases": cases,
            }));
        }
        Ok(out)
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /api/areas/{id}/poster.svg`: a grid's printable QR poster, for users holding it.
pub async fn poster(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let svg = db::run(&state.pool, move |conn| {
        let tree = AreaTree::load(conn)?;
        let access = Access::load(conn, &user.id, user.role, &tree)?;
        let grid = db::areas::get(conn, &id)?
            .filter(|a| a.level == "grid" && access.current().contains(&a.id))
            .ok_or_else(|| ApiError::not_found("网格不存在或不在您的管辖范围内"))?;
        let link = grid.qr_link.clone().ok_or_else(|| {
            ApiError::conflict(
                "no_qr_link",
                "该网格还没有金钟罩二维码链接，请管理员在区域设置中填写后再打印",
            )
        })?;
        // The place name from the township down: 清溪镇 东山村 第一网格.
        let mut place = vec![grid.name.clone()];
        let mut parent = grid.parent_id.clone();
        while let Some(p) = parent {
            let Some(area) = db::areas::get(conn, &p)? else {
                break;
            };
            place.insert(0, area.name.clone());
            parent = area.parent_id;
        }
        let holders: BTreeSet<String> = db::users::all_current_areas(conn)?
            .into_iter()
            .filter(|(_, area)| *area == grid.id)
            .map(|(user, _)| user)
            .collect();
        let mut workers = Vec::new();
        for uid in holders {
            if let Some(u) = db::users::get(conn, &uid)?
                && u.role == "grid_worker"
                && !u.disabled
            {
                workers.push(u.name);
            }
        }
        workers.sort();
        poster::svg(&poster::Poster {
            place: &place.join(" "),
            qr_link: &link,
            wechat_group: grid.wechat_group.as_deref(),
            workers: &workers,
        })
        .ok_or_else(|| ApiError::invalid_field("qr_link", "二维码链接过长，无法生成二维码"))
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml; charset=utf-8")
        .insert_header(("Cache-Control", "private, no-cache"))
        .body(svg))
}

/// `GET /api/areas`: the areas the user holds, with boundaries, QR links and group names,
/// and the map tile URL if one is configured — what the map and poster pages draw.
pub async fn areas(user: AuthUser, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let rows = db::run(&state.pool, move |conn| {
        let tree = AreaTree::load(conn)?;
        let access = Access::load(conn, &user.id, user.role, &tree)?;
        Ok(db::areas::list(conn)?
            .into_iter()
            .filter(|a| access.current().contains(&a.id))
            .map(super::views::AreaView::from)
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({
        "areas": rows,
        "map_tile_url": state.settings.map_tile_url,
    })))
}
