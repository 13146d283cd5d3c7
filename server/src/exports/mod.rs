//! Exports: `GET /api/exports/{name}.{xlsx|csv|geojson}`.
//!
//! An export is a [`Table`] (Chinese headers, typed cells, optional points) built by a
//! function per name from the records the user may read now (their `Access` scopes, their
//! role's entities), with values as the role may see them (`sync::view::present`: ID
//! numbers and phones masked unless the role sees full values). Every record delivered with
//! full values gets one `access_log` row (purpose `export`), so "who saw this person's ID
//! number" stays one query by record id. The table is then written as XLSX, CSV or GeoJSON.
//!
//! Adding an export is one function returning a [`Table`] and one line in [`EXPORTS`].

pub mod csv;
pub mod geojson;
pub mod xlsx;

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::crypto::FieldCipher;
use crate::db::areas::AreaRow;
use crate::db::exports::{self as rows, ExportRow};
use crate::db::personal::{self, NewAccess};
use crate::db::{self, DbConn};
use crate::domain::account::Role;
use crate::domain::calendar::civil_from_days;
use crate::error::{ApiError, ApiResult};
use crate::sync::entities::{self, Entity};
use crate::sync::scopes::{Access, AreaTree};
use crate::sync::{SyncContext, view};

/// A cell of an export.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Nothing.
    Empty,
    /// Text.
    Text(String),
    /// A digit string that must stay text (a full ID number: Excel would round it).
    Code(String),
    /// A number.
    Number(f64),
    /// Yes / no.
    Bool(bool),
}

impl Cell {
    /// The cell as plain text (是/否 for booleans).
    pub fn text(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(s) | Cell::Code(s) => s.clone(),
            Cell::Number(n) => n.to_string(),
            Cell::Bool(b) => if *b { "是" } else { "否" }.to_owned(),
        }
    }

    /// The cell as a JSON value.
    pub fn json(&self) -> Value {
        match self {
            Cell::Empty => Value::Null,
            Cell::Text(s) | Cell::Code(s) => Value::String(s.clone()),
            Cell::Number(n) => serde_json::Number::from_f64(*n)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Cell::Bool(b) => Value::Bool(*b),
        }
    }
}

/// A column: its Chinese header and width in Excel characters.
#[derive(Debug, Clone)]
pub struct Column {
    /// Header (Chinese).
    pub header: &'static str,
    /// Width in characters.
    pub width: f64,
}

/// One export, ready to be written in any format.
#[derive(Debug, Clone)]
pub struct Table {
    /// Chinese title: the sheet name and the file name's stem.
    pub title: &'static str,
    /// Columns in order.
    pub columns: Vec<Column>,
    /// Rows of cells, one per column.
    pub rows: Vec<Vec<Cell>>,
    /// Per row, its record id (GeoJSON feature id).
    pub ids: Vec<String>,
    /// Per row, its location (longitude, latitude), for GeoJSON; empty when the export has
    /// no locations.
    pub points: Vec<Option<(f64, f64)>>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Excel workbook.
    Xlsx,
    /// UTF-8 CSV with BOM.
    Csv,
    /// GeoJSON FeatureCollection of points.
    GeoJson,
}

impl FileFormat {
    /// Parses a file extension.
    pub fn parse(ext: &str) -> Option<FileFormat> {
        match ext {
            "xlsx" => Some(FileFormat::Xlsx),
            "csv" => Some(FileFormat::Csv),
            "geojson" => Some(FileFormat::GeoJson),
            _ => None,
        }
    }

    /// The file extension.
    pub fn ext(self) -> &'static str {
        match self {
            FileFormat::Xlsx => "xlsx",
            FileFormat::Csv => "csv",
            FileFormat::GeoJson => "geojson",
        }
    }

    /// The `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            FileFormat::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            FileFormat::Csv => "text/csv; charset=utf-8",
            FileFormat::GeoJson => "application/geo+json",
        }
    }
}

/// An export by name.
pub struct Spec {
    /// URL name (`households`).
    pub name: &'static str,
    /// Whether it has locations (GeoJSON allowed).
    pub geo: bool,
    /// Builds the table for the reader.
    pub build: fn(&mut Reader<'_>) -> ApiResult<Table>,
}

/// Every export.
pub static EXPORTS: &[Spec] = &[
    Spec {
        name: "households",
        geo: true,
        build: households,
    },
    Spec {
        name: "members",
        geo: false,
        build: members,
    },
    Spec {
        name: "rentals",
        geo: true,
        build: rentals,
    },
    Spec {
        name: "tenants",
        geo: false,
        build: tenants,
    },
    Spec {
        name: "flags",
        geo: false,
        build: flags,
    },
    Spec {
        name: "ranking",
        geo: false,
        build: ranking,
    },
];

/// Who is exporting, what they may read, and the full-value deliveries to log.
pub struct Reader<'a> {
    conn: &'a mut DbConn,
    sync: &'a SyncContext,
    cipher: &'a FieldCipher,
    role: Role,
    user_id: String,
    /// `None` for admins (every scope).
    scopes: Option<Vec<String>>,
    areas: HashMap<String, AreaRow>,
    access: Vec<NewAccess>,
    now_ms: i64,
}

/// A record as the reader may see it.
pub struct Seen {
    /// Its id.
    pub id: String,
    /// Its scope.
    pub scope: String,
    /// Its parent record's id.
    pub parent_id: Option<String>,
    /// Fields as the role sees them (masked or full).
    pub fields: Map<String, Value>,
    /// Last change.
    pub updated_at_ms: i64,
}

impl<'a> Reader<'a> {
    /// A reader for this user: their current scopes over the area tree.
    pub fn new(
        conn: &'a mut DbConn,
        sync: &'a SyncContext,
        user_id: &str,
        role: Role,
        now_ms: i64,
    ) -> ApiResult<Reader<'a>> {
        let tree = AreaTree::load(conn)?;
        let access = Access::load(conn, user_id, role, &tree)?;
        let scopes = (role != Role::Admin).then(|| access.current().iter().cloned().collect());
        let areas = db::areas::list(conn)?
            .into_iter()
            .map(|a| (a.id.clone(), a))
            .collect();
        Ok(Reader {
            conn,
            sync,
            cipher: &sync.cipher,
            role,
            user_id: user_id.to_owned(),
            scopes,
            areas,
            access: Vec::new(),
            now_ms,
        })
    }

    /// 403 unless the role may see this entity at all (police: the rental side only).
    pub fn require(&self, entity: &str) -> ApiResult<&'static Entity> {
        let e = entities::entity(entity)
            .ok_or_else(|| anyhow::anyhow!("unknown entity {entity} in an export"))?;
        if e.visible_to(self.role) {
            Ok(e)
        } else {
            Err(ApiError::new(
                actix_web::http::StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "{}不能导出住户和成员，只能导出出租房、租客及其提示",
                    self.role.label()
                ),
            ))
        }
    }

    /// Live records of an entity in the reader's scopes, as the role sees them; full
    /// personal values delivered are noted for the access log.
    pub fn records(&mut self, entity: &'static Entity) -> ApiResult<Vec<Seen>> {
        let rows = rows::live_in_scopes(self.conn, entity.name, self.scopes.as_deref())?;
        let role = self.role;
        Ok(rows
            .into_iter()
            .filter(|r| entity.record_visible_to(role, &r.fields))
            .map(|r| self.see(entity, r))
            .collect())
    }

    /// Records by id (for parents: a member's household), as the role sees them; parents
    /// outside the reader's scopes are left out. Parents' personal values are not used.
    pub fn parents(&mut self, ids: Vec<String>) -> ApiResult<HashMap<String, Seen>> {
        let mut ids = ids;
        ids.sort();
        ids.dedup();
        let rows = rows::by_ids(self.conn, &ids)?;
        let (scopes, cipher) = (&self.scopes, self.cipher);
        Ok(rows
            .into_iter()
            .filter(|r| scopes.as_ref().is_none_or(|s| s.contains(&r.scope)))
            .filter_map(|r| {
                let entity = entities::entity(&r.entity)?;
                let fields: Map<String, Value> =
                    serde_json::from_str(&r.fields).unwrap_or_default();
                let (fields, _) = view::present(cipher, Role::Viewer, entity, fields);
                Some((
                    r.id.clone(),
                    Seen {
                        id: r.id,
                        scope: r.scope,
                        parent_id: r.parent_id,
                        fields,
                        updated_at_ms: r.updated_at_ms,
                    },
                ))
            })
            .collect())
    }

    fn see(&mut self, entity: &'static Entity, r: ExportRow) -> Seen {
        let stored: Map<String, Value> = serde_json::from_str(&r.fields).unwrap_or_default();
        let (fields, delivered) = view::present(self.cipher, self.role, entity, stored);
        if !delivered.is_empty() {
            self.access.push(NewAccess {
                at_ms: self.now_ms,
                user_id: self.user_id.clone(),
                record_id: r.id.clone(),
                entity: entity.name.to_owned(),
                fields: delivered.join(","),
                purpose: "export".into(),
            });
        }
        Seen {
            id: r.id,
            scope: r.scope,
            parent_id: r.parent_id,
            fields,
            updated_at_ms: r.updated_at_ms,
        }
    }

    /// (village name, grid name) of a scope.
    pub fn place(&self, scope: &str) -> (String, String) {
        match self.areas.get(scope) {
            Some(a) if a.level == "grid" => (
                a.parent_id
                    .as_ref()
                    .and_then(|p| self.areas.get(p))
                    .map(|v| v.name.clone())
                    .unwrap_or_default(),
                a.name.clone(),
            ),
            Some(a) => (a.name.clone(), String::new()),
            None => (String::new(), String::new()),
        }
    }

    /// Whether the role receives full personal values.
    pub fn full_values(&self) -> bool {
        entities::sees_full_values(self.role)
    }

    /// Writes the access log of full values delivered (one row per record).
    pub fn log_access(&mut self) -> ApiResult<usize> {
        let n = self.access.len();
        personal::log_access(self.conn, &self.access)?;
        self.access.clear();
        Ok(n)
    }
}

/// Builds an export for a user: the table, after logging its full-value deliveries.
pub fn build(
    conn: &mut DbConn,
    sync: &SyncContext,
    user_id: &str,
    role: Role,
    spec: &Spec,
    now_ms: i64,
) -> ApiResult<Table> {
    let mut reader = Reader::new(conn, sync, user_id, role, now_ms)?;
    let table = (spec.build)(&mut reader)?;
    reader.log_access()?;
    Ok(table)
}

/// How a field's value becomes a cell.
#[derive(Clone, Copy)]
enum Fmt {
    Text,
    Number,
    Bool,
    /// A personal value (ID number): full values stay text in CSV/XLSX.
    Code,
    /// An enumeration with Chinese labels.
    Label(&'static [(&'static str, &'static str)]),
}

/// A column taken from a field.
struct FieldCol {
    header: &'static str,
    field: &'static str,
    fmt: Fmt,
    width: f64,
}

const fn col(header: &'static str, field: &'static str, fmt: Fmt, width: f64) -> FieldCol {
    FieldCol {
        header,
        field,
        fmt,
        width,
    }
}

fn cell(fields: &Map<String, Value>, c: &FieldCol) -> Cell {
    let Some(v) = fields.get(c.field).filter(|v| !v.is_null()) else {
        return Cell::Empty;
    };
    match (c.fmt, v) {
        (Fmt::Bool, Value::Bool(b)) => Cell::Bool(*b),
        (Fmt::Number, Value::Number(n)) => n.as_f64().map(Cell::Number).unwrap_or(Cell::Empty),
        (Fmt::Code, Value::String(s)) => Cell::Code(s.clone()),
        (Fmt::Label(labels), Value::String(s)) => Cell::Text(
            labels
                .iter()
                .find(|(k, _)| k == s)
                .map(|(_, l)| (*l).to_owned())
                .unwrap_or_else(|| s.clone()),
        ),
        (_, Value::String(s)) => Cell::Text(s.clone()),
        (_, Value::Array(items)) => Cell::Text(
            items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| i.to_string())
                })
                .collect::<Vec<_>>()
                .join("、"),
        ),
        (_, other) => Cell::Text(other.to_string()),
    }
}

/// `YYYY-MM-DD HH:MM`, China time.
pub fn china_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000) + 8 * 3600;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let day = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        day / 3600,
        (day % 3600) / 60
    )
}

/// A column computed from the whole record (e.g. its parent's address): header, width, cell.
type Derived<'f> = (&'static str, f64, &'f dyn Fn(&Seen) -> Cell);

/// A table of records: 村(居), 网格, then `extra` columns (from the parent record), then the
/// field columns, then 更新时间; rows sorted by place, then by the first field column.
fn record_table(
    reader: &Reader<'_>,
    title: &'static str,
    records: Vec<Seen>,
    extra: &[Derived<'_>],
    cols: &[FieldCol],
    geo: bool,
) -> Table {
    let mut columns = vec![
        Column {
            header: "村(居)",
            width: 12.0,
        },
        Column {
            header: "网格",
            width: 12.0,
        },
    ];
    columns.extend(extra.iter().map(|(h, w, _)| Column {
        header: h,
        width: *w,
    }));
    columns.extend(cols.iter().map(|c| Column {
        header: c.header,
        width: c.width,
    }));
    columns.push(Column {
        header: "更新时间",
        width: 17.0,
    });
    let mut keyed: Vec<((String, String, String), Seen)> = records
        .into_iter()
        .map(|r| {
            let (village, grid) = reader.place(&r.scope);
            let first = cols
                .first()
                .map(|c| cell(&r.fields, c).text())
                .unwrap_or_default();
            ((village, grid, first), r)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut table = Table {
        title,
        columns,
        rows: Vec::with_capacity(keyed.len()),
        ids: Vec::with_capacity(keyed.len()),
        points: Vec::new(),
    };
    for ((village, grid, _), r) in keyed {
        let mut row = vec![Cell::Text(village), Cell::Text(grid)];
        row.extend(extra.iter().map(|(_, _, f)| f(&r)));
        row.extend(cols.iter().map(|c| cell(&r.fields, c)));
        row.push(Cell::Text(china_time(r.updated_at_ms)));
        table.rows.push(row);
        if geo {
            table.points.push(
                r.fields
                    .get("lng")
                    .and_then(Value::as_f64)
                    .zip(r.fields.get("lat").and_then(Value::as_f64)),
            );
        }
        table.ids.push(r.id);
    }
    table
}

const HOUSEHOLD_KIND: &[(&str, &str)] = &[
    ("registered", "户籍"),
    ("resident", "常住"),
    ("rental", "出租"),
    ("vacant", "空置"),
];
const ID_TYPE: &[(&str, &str)] = &[
    ("resident_id", "居民身份证"),
    ("passport", "护照"),
    ("hk_macau_permit", "港澳居民来往内地通行证"),
    ("taiwan_permit", "台湾居民来往大陆通行证"),
    ("foreign_permit", "外国人永久居留身份证"),
    ("other", "其他"),
];

fn households(reader: &mut Reader<'_>) -> ApiResult<Table> {
    let entity = reader.require("household")?;
    let records = reader.records(entity)?;
    const COLS: &[FieldCol] = &[
        col("住址", "address", Fmt::Text, 30.0),
        col("户主", "head_name", Fmt::Text, 10.0),
        col("村民小组", "group_name", Fmt::Text, 10.0),
        col("户类型", "kind", Fmt::Label(HOUSEHOLD_KIND), 8.0),
        col("已发放宣传单", "leaflet_delivered", Fmt::Bool, 12.0),
        col("经度", "lng", Fmt::Number, 12.0),
        col("纬度", "lat", Fmt::Number, 12.0),
        col("备注", "notes", Fmt::Text, 30.0),
    ];
    Ok(record_table(reader, "住户", records, &[], COLS, true))
}

fn members(reader: &mut Reader<'_>) -> ApiResult<Table> {
    let entity = reader.require("member")?;
    let records = reader.records(entity)?;
    let parents = reader.parents(records.iter().filter_map(|r| r.parent_id.clone()).collect())?;
    let address = |r: &Seen| parent_text(&parents, r, "address");
    const COLS: &[FieldCol] = &[
        col("姓名", "name", Fmt::Text, 10.0),
        col("与户主关系", "relation", Fmt::Text, 10.0),
        col("证件类型", "id_type", Fmt::Label(ID_TYPE), 12.0),
        col("身份证号", "id_number", Fmt::Code, 21.0),
        col("手机号", "phone", Fmt::Code, 14.0),
        col("在家居住", "living_at_home", Fmt::Bool, 9.0),
        col("智能手机", "has_smartphone", Fmt::Bool, 9.0),
        col("已注册金钟罩", "jzz_registered", Fmt::Bool, 12.0),
        col("注册日期", "jzz_registered_on", Fmt::Text, 11.0),
        col("亲属覆盖", "covered_by", Fmt::Text, 10.0),
        col("安装国家反诈APP", "national_app_installed", Fmt::Bool, 15.0),
        col("易受骗人群", "vulnerable", Fmt::Bool, 10.0),
        col("备注", "notes", Fmt::Text, 30.0),
    ];
    Ok(record_table(
        reader,
        "住户成员",
        records,
        &[("住址", 30.0, &address)],
        COLS,
        false,
    ))
}

fn rentals(reader: &mut Reader<'_>) -> ApiResult<Table> {
    let entity = reader.require("rental")?;
    let records = reader.records(entity)?;
    const COLS: &[FieldCol] = &[
        col("地址", "address", Fmt::Text, 30.0),
        col("房东", "landlord_name", Fmt::Text, 10.0),
        col("房东电话", "landlord_phone", Fmt::Code, 14.0),
        col("房东身份证号", "landlord_id_number", Fmt::Code, 21.0),
        col("房东住本处", "landlord_on_site", Fmt::Bool, 10.0),
        col("管理人", "manager_name", Fmt::Text, 10.0),
        col("管理人电话", "manager_phone", Fmt::Code, 14.0),
        col("房屋类型", "property_type", Fmt::Text, 10.0),
        col("出租间数", "rooms", Fmt::Number, 9.0),
        col(
            "租赁方式",
            "rent_mode",
            Fmt::Label(&[("long", "长租"), ("short", "短租"), ("daily", "日租")]),
            9.0,
        ),
        col(
            "付款方式",
            "payment",
            Fmt::Label(&[("cash", "现金"), ("transfer", "转账")]),
            9.0,
        ),
        col("书面合同", "written_contract", Fmt::Bool, 9.0),
        col("已向派出所备案", "filed_with_police", Fmt::Bool, 14.0),
        col("观察到的住户数", "occupants_observed", Fmt::Number, 14.0),
        col(
            "状态",
            "status",
            Fmt::Label(&[
                ("let", "出租中"),
                ("vacant", "空置"),
                ("closed", "停止出租"),
            ]),
            9.0,
        ),
        col("经度", "lng", Fmt::Number, 12.0),
        col("纬度", "lat", Fmt::Number, 12.0),
        col("备注", "notes", Fmt::Text, 30.0),
    ];
    Ok(record_table(reader, "出租房", records, &[], COLS, true))
}

fn tenants(reader: &mut Reader<'_>) -> ApiResult<Table> {
    let entity = reader.require("tenant")?;
    let records = reader.records(entity)?;
    let parents = reader.parents(records.iter().filter_map(|r| r.parent_id.clone()).collect())?;
    let address = |r: &Seen| parent_text(&parents, r, "address");
    const COLS: &[FieldCol] = &[
        col("姓名", "name", Fmt::Text, 10.0),
        col("证件类型", "id_type", Fmt::Label(ID_TYPE), 12.0),
        col("证件号码", "id_number", Fmt::Code, 21.0),
        col("手机号", "phone", Fmt::Code, 14.0),
        col("户籍地", "hukou_place", Fmt::Text, 20.0),
        col("入住日期", "move_in", Fmt::Text, 11.0),
        col("搬离日期", "move_out", Fmt::Text, 11.0),
        col("来此事由", "reason", Fmt::Text, 14.0),
        col("职业", "occupation", Fmt::Text, 10.0),
        col("工作单位", "workplace", Fmt::Text, 20.0),
        col("主承租人", "primary_lessee", Fmt::Bool, 9.0),
        col("居住证", "residence_permit", Fmt::Bool, 8.0),
        col(
            "证件核验方式",
            "id_checked_by",
            Fmt::Label(&[
                ("card_reader", "读卡器"),
                ("seen_card", "查看证件"),
                ("verbal", "口述"),
                ("none", "未核验"),
            ]),
            12.0,
        ),
        col("备注", "notes", Fmt::Text, 30.0),
    ];
    Ok(record_table(
        reader,
        "租住人员",
        records,
        &[("出租房地址", 30.0, &address)],
        COLS,
        false,
    ))
}

fn flags(reader: &mut Reader<'_>) -> ApiResult<Table> {
    let entity = reader.require("flag")?;
    let records = reader.records(entity)?;
    let subject_ids = records
        .iter()
        .filter_map(|r| r.fields.get("subject_id")?.as_str().map(str::to_owned))
        .collect();
    let subjects = reader.parents(subject_ids)?;
    let subject = |r: &Seen| {
        let label = r
            .fields
            .get("subject_id")
            .and_then(Value::as_str)
            .and_then(|id| subjects.get(id))
            .and_then(|s| {
                s.fields
                    .get("address")
                    .or_else(|| s.fields.get("name"))?
                    .as_str()
                    .map(str::to_owned)
            });
        label.map(Cell::Text).unwrap_or(Cell::Empty)
    };
    let reasons = |r: &Seen| {
        let text = r
            .fields
            .get("reasons")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .map(|i| {
                        let code = i.get("code").and_then(Value::as_str).unwrap_or("");
                        let points = i.get("points").and_then(Value::as_i64).unwrap_or(0);
                        let detail = i.get("detail").and_then(Value::as_str).unwrap_or("");
                        if points > 0 {
                            format!("{code}（{points} 分）{detail}")
                        } else {
                            format!("{code} {detail}")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("；")
            })
            .unwrap_or_default();
        Cell::Text(text)
    };
    const COLS: &[FieldCol] = &[
        col(
            "对象类型",
            "subject_entity",
            Fmt::Label(&[
                ("household", "住户"),
                ("rental", "出租房"),
                ("tenant", "租客"),
                ("member", "成员"),
            ]),
            9.0,
        ),
        col(
            "提示类型",
            "kind",
            Fmt::Label(&[
                ("unregistered_household", "未注册金钟罩"),
                ("not_visited", "未入户走访"),
                ("fraud_risk", "涉诈窝点风险"),
                ("duplicate_tenant", "租客多处登记"),
                ("outside_grid", "位置不在网格内"),
            ]),
            14.0,
        ),
        col(
            "等级",
            "level",
            Fmt::Label(&[
                ("red", "红"),
                ("yellow", "黄"),
                ("green", "绿"),
                ("info", "提示"),
            ]),
            6.0,
        ),
        col("分数", "score", Fmt::Number, 6.0),
        col(
            "注册状态",
            "status",
            Fmt::Label(&[
                ("unregistered", "未注册"),
                ("partial", "部分注册"),
                ("registered", "已注册"),
                ("exempt", "免于注册"),
            ]),
            9.0,
        ),
        col("仍有效", "active", Fmt::Bool, 7.0),
        col(
            "处理状态",
            "state",
            Fmt::Label(&[
                ("new", "待处理"),
                ("in_review", "核查中"),
                ("cleared", "已排除"),
                ("confirmed", "确认窝点"),
                ("referred", "已移交"),
            ]),
            9.0,
        ),
        col("复核意见", "review_note", Fmt::Text, 24.0),
        col("规则版本", "rule_version", Fmt::Text, 10.0),
    ];
    Ok(record_table(
        reader,
        "风险提示",
        records,
        &[("对象", 30.0, &subject), ("原因", 40.0, &reasons)],
        COLS,
        false,
    ))
}

fn parent_text(parents: &HashMap<String, Seen>, r: &Seen, field: &str) -> Cell {
    r.parent_id
        .as_ref()
        .and_then(|p| parents.get(p))
        .and_then(|p| p.fields.get(field)?.as_str())
        .map(|s| Cell::Text(s.to_owned()))
        .unwrap_or(Cell::Empty)
}

/// The `Content-Disposition` of an export: a Chinese file name with the date
/// (`住户-2021-06-15.xlsx`), and an ASCII fallback for old clients.
pub fn content_disposition(title: &str, name: &str, date: &str, ext: &str) -> String {
    let utf8 = format!("{title}-{date}.{ext}");
    let encoded: String = utf8
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{name}-{date}.{ext}\"; filename*=UTF-8''{encoded}")
}

/// Writes a table in a format.
pub fn write(table: &Table, format: FileFormat) -> ApiResult<Vec<u8>> {
    match format {
        FileFormat::Xlsx => xlsx::write(table),
        FileFormat::Csv => csv::write(table),
        FileFormat::GeoJson => geojson::write(table),
    }
}

/// The village ranking as it stands (no personal data): one row per village with each
/// line's points, then bonuses, penalties and the total.
fn ranking(reader: &mut Reader<'_>) -> ApiResult<Table> {
    let (_, campaign) =
        crate::services::campaign::current(reader.conn, &reader.sync.campaign_start)?;
    let ranked = crate::api::reports::ranked(reader.conn, &campaign, reader.now_ms)?;
    let mut columns = vec![
        Column {
            header: "名次",
            width: 6.0,
        },
        Column {
            header: "村（社区）",
            width: 14.0,
        },
    ];
    let line_headers: &[&'static str] = &[
        "金钟罩注册率得分",
        "入户走访得分",
        "出租房排查得分",
        "租住人员登记得分",
        "宣传任务得分",
        "风险核查得分",
    ];
    columns.extend(line_headers.iter().map(|h| Column {
        header: h,
        width: 14.0,
    }));
    columns.push(Column {
        header: "加分",
        width: 8.0,
    });
    columns.push(Column {
        header: "扣分",
        width: 8.0,
    });
    columns.push(Column {
        header: "总分",
        width: 8.0,
    });
    columns.push(Column {
        header: "计分说明",
        width: 60.0,
    });
    let mut rows = Vec::new();
    let mut ids = Vec::new();
    for v in &ranked {
        let mut row = vec![
            Cell::Number(v.rank as f64),
            Cell::Text(v.village_name.clone()),
        ];
        row.extend(v.lines.iter().map(|l| Cell::Number(l.points)));
        // fold from +0.0: an empty f64 sum is −0.0, which a spreadsheet shows as "-0".
        let bonus = v.bonuses.iter().fold(0.0, |t, a| t + a.points);
        let penalty = v.penalties.iter().fold(0.0, |t, a| t + a.points);
        row.push(Cell::Number(bonus));
        row.push(Cell::Number(penalty));
        row.push(Cell::Number(v.total));
        let explained: Vec<String> = v
            .lines
            .iter()
            .map(|l| format!("{}：{}", l.label, l.detail))
            .chain(
                v.bonuses
                    .iter()
                    .chain(&v.penalties)
                    .map(|a| format!("{} {} 次 × {} = {}", a.label, a.count, a.each, a.points)),
            )
            .collect();
        row.push(Cell::Text(explained.join("；")));
        rows.push(row);
        ids.push(v.village_id.clone());
    }
    Ok(Table {
        title: "村（社区）考核排名",
        columns,
        rows,
        ids,
        points: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_has_an_encoded_chinese_name() {
        let d = content_disposition("住户", "households", "2021-06-15", "xlsx");
        assert!(d.starts_with("attachment; filename=\"households-2021-06-15.xlsx\""));
        assert!(d.contains("filename*=UTF-8''%E4%BD%8F%E6%88%B7-2021-06-15.xlsx"));
    }

    #[test]
    fn china_time_is_utc_plus_8() {
        assert_eq!(china_time(0), "1970-01-01 08:00");
    }

    #[test]
    fn cells_from_fields() {
        let fields: Map<String, Value> =
            serde_json::from_value(serde_json::json!({"kind": "vacant", "ok": true, "n": 3}))
                .unwrap();
        assert_eq!(
            cell(
                &fields,
                &col("户类型", "kind", Fmt::Label(HOUSEHOLD_KIND), 8.0)
            ),
            Cell::Text("空置".into())
        );
        assert_eq!(
            cell(&fields, &col("x", "ok", Fmt::Bool, 8.0)),
            Cell::Bool(true)
        );
        assert_eq!(
            cell(&fields, &col("x", "n", Fmt::Number, 8.0)),
            Cell::Number(3.0)
        );
        assert_eq!(
            cell(&fields, &col("x", "none", Fmt::Text, 8.0)),
            Cell::Empty
        );
    }
}
