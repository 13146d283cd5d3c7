//! Household rosters: one row per member, grouped into households by address within the
//! village. Every value passes `entities::check_value`, the rules a push follows.
//!
//! Stable ids, so a second import of the same file updates instead of duplicating:
//! a household is `stable_id("household", village id, address)` (address without spaces,
//! full-width characters folded), unless a live household with the same address is already
//! filed in the row's grid (entered on a phone), whose id is then reused; a member is the
//! existing member of that household with the same ID number (by its keyed hash) or, without
//! an ID number, the same name; otherwise `stable_id("member", household id, ID hash or
//! name)`. Fields whose stored value already equals the file's are not written again, so a
//! re-import changes nothing and leaves no history.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value, json};

use super::areas::AreaIndex;
use super::table::{self, Columns, Row};
use super::{Input, Progress, Report, RowError, State, Stop, settle, stable_id};
use crate::db::audit::{self, NewEntry};
use crate::db::records::{self, RecordRow, SeqAllocator};
use crate::db::{self, DbConn, now_ms};
use crate::error::ApiResult;
use crate::flags;
use crate::sync::SyncContext;
use crate::sync::entities::{self, Entity, Kind};
use crate::sync::merge::Op;
use crate::sync::write::{self, Target, Writer};

/// Accepted headers per field (Chinese first, then the English field names).
pub const ALIASES: &[(&str, &[&str])] = &[
    ("head_name", &["户主姓名", "户主", "head_name"]),
    ("name", &["姓名", "成员姓名", "name"]),
    (
        "id_number",
        &[
            "身份证号",
            "身份证号码",
            "公民身份号码",
            "身份证",
            "id_number",
        ],
    ),
    (
        "phone",
        &["联系电话", "手机号", "手机号码", "电话", "phone"],
    ),
    ("address", &["住址", "地址", "家庭住址", "address"]),
    ("village", &["村", "村(居)", "村居", "社区", "village"]),
    (
        "group_name",
        &["组", "村民小组", "小组", "group_name", "group"],
    ),
    ("grid", &["网格", "所属网格", "grid"]),
    ("relation", &["与户主关系", "关系", "relation"]),
    (
        "has_smartphone",
        &["智能手机", "有智能手机", "是否有智能手机", "has_smartphone"],
    ),
    (
        "jzz_registered",
        &["金钟罩", "已注册金钟罩", "是否注册金钟罩", "jzz_registered"],
    ),
    (
        "living_at_home",
        &["在家居住", "是否在家", "living_at_home"],
    ),
    ("kind", &["户类型", "类型", "kind"]),
    ("lat", &["纬度", "lat", "latitude"]),
    ("lng", &["经度", "lng", "lon", "longitude"]),
    ("notes", &["备注", "notes"]),
];

/// Member fields taken from the file as they are.
const MEMBER_FIELDS: &[&str] = &[
    "id_number",
    "phone",
    "relation",
    "has_smartphone",
    "jzz_registered",
    "living_at_home",
    "notes",
];

/// One member row, checked.
struct MemberPlan {
    row: usize,
    name: String,
    id_number: Option<String>,
    fields: Map<String, Value>,
}

/// One household gathered from its rows.
struct HouseholdPlan {
    first_row: usize,
    village: String,
    grid: String,
    address: String,
    /// The address as a grouping key.
    key: String,
    /// The household's record id, once resolved against what is stored.
    id: String,
    head: Option<(String, usize)>,
    fields: Map<String, Value>,
    members: Vec<MemberPlan>,
}

/// Reads, validates and (unless a dry run) writes a roster.
pub fn run(
    conn: &mut DbConn,
    sync: &SyncContext,
    input: &Input,
    progress: &Progress,
) -> ApiResult<Report> {
    let table = match table::read(&input.bytes, input.format) {
        Ok(t) => t,
        Err(m) => {
            return Ok(Report::rejected(
                vec![RowError::file("unreadable_file", m)],
                0,
                0,
            ));
        }
    };
    let total = table.rows.len() as u64;
    progress.phase(1, total);
    let cols = Columns::map(&table.headers, ALIASES);
    let mut errors = Vec::new();
    for (field, label) in [("name", "姓名"), ("address", "住址")] {
        let present = cols.has(field) || (field == "name" && cols.has("head_name"));
        if !present {
            errors.push(RowError {
                row: 1,
                column: None,
                code: "missing_column".into(),
                message: format!("缺少「{label}」列（表头在第 1 行）"),
            });
        }
    }
    for dup in &cols.duplicates {
        errors.push(RowError {
            row: 1,
            column: Some(dup.clone()),
            code: "duplicate_column".into(),
            message: format!("第 1 行「{dup}」：与前面的列重复"),
        });
    }
    if !errors.is_empty() {
        return Ok(Report::rejected(errors, 0, total));
    }
    let areas = AreaIndex::new(db::areas::list(conn)?);
    let default_village = match &input.village {
        Some(v) => match areas.find(v, "village", None) {
            Ok(a) => Some(a.id.clone()),
            Err(m) => {
                return Ok(Report::rejected(
                    vec![RowError::file("unknown_area", m)],
                    0,
                    total,
                ));
            }
        },
        None => None,
    };
    let checker = Checker {
        cols: &cols,
        areas: &areas,
        default_village: default_village.as_deref(),
    };
    let mut plans: Vec<HouseholdPlan> = Vec::new();
    let mut by_key: HashMap<(String, String), usize> = HashMap::new();
    for row in &table.rows {
        progress.step();
        let Some((grid, village, household, member)) = checker.row(row, &mut errors) else {
            continue;
        };
        let address = cols.get(row, "address").unwrap_or_default().to_owned();
        let key = address_key(&address);
        let head = cols.get(row, "head_name").map(str::to_owned);
        let index = *by_key
            .entry((village.clone(), key.clone()))
            .or_insert_with(|| {
                plans.push(HouseholdPlan {
                    first_row: row.number,
                    village: village.clone(),
                    grid: grid.clone(),
                    address: address.clone(),
                    key: key.clone(),
                    id: String::new(),
                    head: None,
                    fields: Map::new(),
                    members: Vec::new(),
                });
                plans.len() - 1
            });
        let plan = &mut plans[index];
        if plan.grid != grid {
            errors.push(RowError::row(
                row.number,
                "conflicting_grid",
                format!(
                    "与第 {} 行同一住址，但网格不同（「{}」与「{}」）",
                    plan.first_row,
                    areas.name_of(&plan.grid),
                    areas.name_of(&grid)
                ),
            ));
            continue;
        }
        match (&plan.head, head) {
            (Some((h, first)), Some(new)) if *h != new => errors.push(RowError::cell(
                row.number,
                &cols.name_of("head_name"),
                "conflicting_head",
                format!("与第 {first} 行同一住址，但户主不同（「{h}」与「{new}」）"),
            )),
            (None, Some(new)) => plan.head = Some((new, row.number)),
            _ => {}
        }
        for (k, v) in household {
            plan.fields.entry(k).or_insert(v);
        }
        plan.members.push(member);
    }
    if !errors.is_empty() {
        errors.truncate(super::MAX_ERRORS);
        return Ok(Report::rejected(errors, total, total));
    }
    let out = db::write_tx(conn, |conn| {
        write_plans(conn, sync, input, progress, &mut plans, &cols, total)
    });
    settle(out, total, total)
}

/// Checks one row; on success (grid, village, household fields, member).
struct Checker<'a> {
    cols: &'a Columns,
    areas: &'a AreaIndex,
    default_village: Option<&'a str>,
}

impl Checker<'_> {
    fn row(
        &self,
        row: &Row,
        errors: &mut Vec<RowError>,
    ) -> Option<(String, String, Map<String, Value>, MemberPlan)> {
        let before = errors.len();
        let cols = self.cols;
        let household_entity = entities::entity("household")?;
        let member_entity = entities::entity("member")?;
        let name = cols
            .get(row, "name")
            .or_else(|| cols.get(row, "head_name"))
            .map(str::to_owned);
        if name.is_none() {
            errors.push(RowError::cell(
                row.number,
                &cols.name_of("name"),
                "missing_value",
                "姓名不能为空",
            ));
        }
        if cols.get(row, "address").is_none() {
            errors.push(RowError::cell(
                row.number,
                &cols.name_of("address"),
                "missing_value",
                "住址不能为空",
            ));
        }
        let mut household = Map::new();
        for field in ["group_name", "kind", "lat", "lng", "address", "head_name"] {
            if let Some(v) = self.value(row, household_entity, field, errors) {
                household.insert(field.to_owned(), v);
            }
        }
        let mut member = Map::new();
        for field in MEMBER_FIELDS.iter().copied().chain(["name"]) {
            if let Some(v) = self.value(row, member_entity, field, errors) {
                member.insert(field.to_owned(), v);
            }
        }
        if let Some(n) = &name {
            member.insert("name".into(), json!(n));
        }
        let point = household
            .get("lng")
            .and_then(Value::as_f64)
            .zip(household.get("lat").and_then(Value::as_f64));
        if household.contains_key("lng") != household.contains_key("lat") {
            errors.push(RowError::row(
                row.number,
                "invalid_value",
                "经度和纬度需同时填写",
            ));
        }
        let place = self.place(row, point);
        let (grid, village) = match place {
            Ok(p) => p,
            Err(e) => {
                errors.push(e);
                return None;
            }
        };
        if errors.len() > before {
            return None;
        }
        let id_number = member
            .get("id_number")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Some((
            grid,
            village,
            household,
            MemberPlan {
                row: row.number,
                name: name.unwrap_or_default(),
                id_number,
                fields: member,
            },
        ))
    }

    /// The row's grid and village: the 网格 column (an id, or a name within the village),
    /// else the grid whose boundary covers the row's coordinates.
    fn place(&self, row: &Row, point: Option<(f64, f64)>) -> Result<(String, String), RowError> {
        let cols = self.cols;
        let village = match cols.get(row, "village") {
            Some(v) => Some(
                self.areas
                    .find(v, "village", None)
                    .map_err(|m| {
                        RowError::cell(row.number, &cols.name_of("village"), "unknown_area", m)
                    })?
                    .id
                    .clone(),
            ),
            None => self.default_village.map(str::to_owned),
        };
        let grid = match (cols.get(row, "grid"), point) {
            (Some(g), _) => self
                .areas
                .find(g, "grid", village.as_deref())
                .map_err(|m| {
                    RowError::cell(row.number, &cols.name_of("grid"), "unknown_area", m)
                })?,
            (None, Some((lng, lat))) => self
                .areas
                .grid_at(lng, lat, village.as_deref())
                .map_err(|m| RowError::row(row.number, "outside_grids", m))?,
            (None, None) => {
                return Err(RowError::cell(
                    row.number,
                    &cols.name_of("grid"),
                    "missing_grid",
                    "请填写网格，或填写经度、纬度以按网格边界确定所属网格",
                ));
            }
        };
        let village = grid.parent_id.clone().unwrap_or_default();
        Ok((grid.id.clone(), village))
    }

    /// A cell as the field's JSON value, checked by the sync rules; `None` when empty or
    /// refused (the refusal is added to `errors`).
    fn value(
        &self,
        row: &Row,
        entity: &Entity,
        field: &str,
        errors: &mut Vec<RowError>,
    ) -> Option<Value> {
        let text = self.cols.get(row, field)?;
        let kind = entity.field(field)?;
        let column = self.cols.name_of(field);
        let value = match to_value(kind, field, text) {
            Ok(v) => v,
            Err(m) => {
                errors.push(RowError::cell(row.number, &column, "invalid_value", m));
                return None;
            }
        };
        match entities::check_value(kind, &value, None) {
            Ok(()) => Some(value),
            Err((code, message)) => {
                let hint = if matches!(kind, Kind::IdNumber) && text.contains(['E', 'e', '.']) {
                    "（Excel 把身份证号当成了数字，请把该列设为文本格式后重新填写）"
                } else {
                    ""
                };
                errors.push(RowError::cell(
                    row.number,
                    &column,
                    code,
                    format!("{message}{hint}"),
                ));
                None
            }
        }
    }
}

/// A cell's text as the JSON value of a field of this kind.
fn to_value(kind: Kind, field: &str, text: &str) -> Result<Value, String> {
    Ok(match kind {
        Kind::Bool => Value::Bool(
            table::parse_bool(text)
                .ok_or_else(|| format!("应填「是」或「否」，而不是「{text}」"))?,
        ),
        Kind::Number(..) => json!(
            text.trim()
                .parse::<f64>()
                .map_err(|_| format!("应为数字，而不是「{text}」"))?
        ),
        Kind::IdNumber => Value::String(
            text.chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_ascii_uppercase(),
        ),
        Kind::Phone => {
            let digits: String = text
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '-')
                .collect();
            Value::String(digits.strip_prefix("+86").unwrap_or(&digits).to_owned())
        }
        Kind::Enum(_) if field == "kind" => Value::String(
            match text.trim() {
                "户籍" | "户籍户" | "户籍人口" => "registered",
                "常住" | "常住户" | "常住人口" => "resident",
                "出租" | "出租户" | "出租房" => "rental",
                "空置" | "空置户" | "空户" => "vacant",
                other => other,
            }
            .to_owned(),
        ),
        _ => Value::String(text.trim().to_owned()),
    })
}

/// An address as a grouping key: no spaces, full-width letters and digits folded.
fn address_key(address: &str) -> String {
    address
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c as u32 {
            0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// Counts of one entity's writes.
#[derive(Default)]
struct Counts {
    created: u64,
    updated: u64,
    unchanged: u64,
}

/// Resolves ids against what is stored and writes every household and member, then the
/// flags, inside the caller's transaction.
fn write_plans(
    conn: &mut DbConn,
    sync: &SyncContext,
    input: &Input,
    progress: &Progress,
    plans: &mut [HouseholdPlan],
    cols: &Columns,
    total: u64,
) -> Result<Report, Stop> {
    let cipher = &sync.cipher;
    let mut seqs = SeqAllocator::default();
    // Lock every grid written, in sorted order, before reading records (as a push does).
    let grids: BTreeSet<String> = plans.iter().map(|p| p.grid.clone()).collect();
    for grid in &grids {
        seqs.lock(conn, grid)?;
    }
    let mut errors = Vec::new();
    let mut by_address: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut existing: HashMap<String, RecordRow> = HashMap::new();
    let mut member_rows: HashMap<String, usize> = HashMap::new();
    let mut member_ids: Vec<Vec<String>> = Vec::with_capacity(plans.len());
    for plan in plans.iter_mut() {
        let mut id = stable_id(&["household", &plan.village, &plan.key]);
        match records::get(conn, &id)? {
            Some(row) if row.entity != "household" || row.scope != plan.grid => {
                errors.push(RowError::row(
                    plan.first_row,
                    "scope_conflict",
                    "该住址的户已登记在另一个网格；记录的所属网格不能通过导入修改",
                ));
                member_ids.push(Vec::new());
                continue;
            }
            Some(row) => {
                existing.insert(id.clone(), row);
            }
            None => {
                if !by_address.contains_key(&plan.grid) {
                    let index = records::live_of_entity(conn, "household", &plan.grid)?
                        .iter()
                        .filter_map(|r| {
                            let state = write::state_of(r, cipher);
                            let address = state.fields.get("address")?.as_str()?.to_owned();
                            Some((address_key(&address), r.id.clone()))
                        })
                        .collect();
                    by_address.insert(plan.grid.clone(), index);
                }
                if let Some(found) = by_address[&plan.grid].get(&plan.key) {
                    id = found.clone();
                    if let Some(row) = records::get(conn, &id)? {
                        existing.insert(id.clone(), row);
                    }
                }
            }
        }
        // Members already in this household, by ID hash or (without ID) by name.
        let mut known: HashMap<String, String> = HashMap::new();
        if existing.contains_key(&id) {
            for m in records::live_children(conn, "member", &id)? {
                let state = write::state_of(&m, cipher);
                let key = match state.fields.get("id_number").and_then(Value::as_str) {
                    Some(n) if !n.trim().is_empty() => format!("id:{}", cipher.id_hash(n)),
                    _ => format!(
                        "name:{}",
                        state
                            .fields
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                    ),
                };
                known.entry(key).or_insert(m.id.clone());
                existing.insert(m.id.clone(), m);
            }
        }
        let mut ids = Vec::with_capacity(plan.members.len());
        for m in &plan.members {
            let key = match &m.id_number {
                Some(n) => format!("id:{}", cipher.id_hash(n)),
                None => format!("name:{}", m.name),
            };
            let member_id = known
                .get(&key)
                .cloned()
                .unwrap_or_else(|| stable_id(&["member", &id, &key]));
            if let Some(first) = member_rows.insert(member_id.clone(), m.row) {
                errors.push(RowError::row(
                    m.row,
                    "duplicate_member",
                    format!("与第 {first} 行是同一户的同一人（身份证号或姓名重复）"),
                ));
            }
            if !existing.contains_key(&member_id)
                && let Some(row) = records::get(conn, &member_id)?
            {
                if row.entity != "member" || row.scope != plan.grid {
                    errors.push(RowError::row(
                        m.row,
                        "scope_conflict",
                        "该成员已登记在另一个网格；记录的所属网格不能通过导入修改",
                    ));
                }
                existing.insert(member_id.clone(), row);
            }
            ids.push(member_id);
        }
        plan.fields.insert("address".into(), json!(plan.address));
        let head = plan.head.as_ref().map(|(h, _)| h.clone()).or_else(|| {
            plan.members
                .iter()
                .find(|m| {
                    matches!(
                        m.fields.get("relation").and_then(Value::as_str),
                        Some("本人" | "户主" | "户主本人")
                    )
                })
                .or(plan.members.first())
                .map(|m| m.name.clone())
        });
        if let Some(h) = head {
            plan.fields.insert("head_name".into(), json!(h));
        }
        // The household's id as resolved (a phone-entered one may have been found).
        plan.id = id;
        member_ids.push(ids);
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.row);
        errors.truncate(super::MAX_ERRORS);
        return Err(Stop::Rows(errors));
    }

    let writes: u64 = plans.iter().map(|p| 1 + p.members.len() as u64).sum();
    progress.phase(2, writes);
    let now = now_ms();
    let writer = Writer {
        user_id: Some(&input.user_id),
        client_id: "server",
        mid: None,
    };
    let mut households = Counts::default();
    let mut members = Counts::default();
    let mut subjects = BTreeSet::new();
    let mut pending = Vec::new();
    for (plan, ids) in plans.iter().zip(&member_ids) {
        let household_id = plan.id.clone();
        let target = Target {
            entity: "household",
            id: &household_id,
            scope: &plan.grid,
        };
        let row = put(
            conn,
            &mut seqs,
            &mut pending,
            sync,
            existing.remove(&household_id),
            target,
            plan.fields.clone(),
            writer,
            now,
            &mut households,
        )?;
        subjects.extend(row.iter().flat_map(flags::subjects_of));
        progress.step();
        for (m, id) in plan.members.iter().zip(ids) {
            let mut fields = m.fields.clone();
            fields.insert("household_id".into(), json!(household_id));
            let target = Target {
                entity: "member",
                id,
                scope: &plan.grid,
            };
            let row = put(
                conn,
                &mut seqs,
                &mut pending,
                sync,
                existing.remove(id),
                target,
                fields,
                writer,
                now,
                &mut members,
            )?;
            subjects.extend(row.iter().flat_map(flags::subjects_of));
            progress.step();
        }
    }
    // Stored in bulk before the flags are computed: the engine reads them back.
    write::store_all(conn, &sync.cipher, pending)?;
    let flag_changes = flags::Engine::new(sync, now).refresh(conn, &mut seqs, subjects)?;
    seqs.finish(conn)?;
    let mut result = Map::new();
    result.insert(
        "created".into(),
        json!({"households": households.created, "members": members.created}),
    );
    result.insert(
        "updated".into(),
        json!({"households": households.updated, "members": members.updated}),
    );
    result.insert(
        "unchanged".into(),
        json!({"households": households.unchanged, "members": members.unchanged}),
    );
    result.insert("flag_changes".into(), json!(flag_changes));
    result.insert("ignored_columns".into(), json!(cols.ignored));
    audit::record(
        conn,
        &NewEntry::new(Some(&input.user_id), "import_households").detail(json!({
            "created": result["created"], "updated": result["updated"], "dry_run": input.dry_run,
        })),
    )?;
    let report = Report {
        state: State::Done,
        processed: total,
        total,
        errors: Vec::new(),
        result,
        passwords: Vec::new(),
    };
    if input.dry_run {
        // Everything was checked and written inside the transaction; roll it back.
        return Err(Stop::DryRun(Box::new(report)));
    }
    Ok(report)
}

/// Prepares the fields that differ from what is stored (all of them for a new record) for
/// storing in bulk; returns the record as it will be stored when anything changes. A record
/// deleted on a phone and listed again in the roster is restored (stored at once).
#[allow(clippy::too_many_arguments)]
fn put(
    conn: &mut DbConn,
    seqs: &mut SeqAllocator,
    pending: &mut Vec<write::Prepared>,
    sync: &SyncContext,
    existing: Option<RecordRow>,
    target: Target<'_>,
    mut fields: Map<String, Value>,
    writer: Writer<'_>,
    now: i64,
    counts: &mut Counts,
) -> Result<Option<RecordRow>, Stop> {
    if let Some(row) = &existing {
        let state = write::state_of(row, &sync.cipher);
        fields.retain(|k, v| state.fields.get(k) != Some(v));
        if fields.is_empty() && !row.deleted {
            counts.unchanged += 1;
            return Ok(None);
        }
    }
    let created = existing.is_none();
    let op = Op::Put(fields);
    let row = match existing {
        Some(row) if row.deleted => {
            let row = write::apply(
                conn,
                seqs,
                &sync.cipher,
                Some(row),
                target,
                &op,
                &sync.tick(now),
                writer,
                now,
            )?;
            write::apply(
                conn,
                seqs,
                &sync.cipher,
                Some(row),
                target,
                &Op::Restore,
                &sync.tick(now),
                writer,
                now,
            )?
        }
        existing => {
            let Some(prepared) = write::prepare(
                conn,
                seqs,
                &sync.cipher,
                existing.as_ref(),
                target,
                &op,
                &sync.tick(now),
                writer,
                now,
            )?
            else {
                counts.unchanged += 1;
                return Ok(None);
            };
            let row = prepared.row.clone();
            pending.push(prepared);
            row
        }
    };
    if created {
        counts.created += 1;
    } else {
        counts.updated += 1;
    }
    Ok(Some(row))
}
