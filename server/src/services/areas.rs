//! Creating areas of the township tree.

use serde::Deserialize;
use serde_json::Value;

use crate::db::areas::{self, AreaRow};
use crate::db::audit::{self, NewEntry};
use crate::db::{DbConn, now_ms};
use crate::domain::area::{self, Level};
use crate::domain::geo;
use crate::error::{ApiError, ApiResult};

/// An area to create (`POST /api/admin/areas`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewArea {
    /// Optional caller-chosen id; a UUIDv7 otherwise.
    pub id: Option<String>,
    /// Display name, e.g. 东山村.
    pub name: String,
    /// `township`, `village` or `grid`.
    pub level: String,
    /// Parent area: a township for a village, a village for a grid.
    pub parent_id: Option<String>,
    /// GeoJSON Polygon or MultiPolygon.
    pub boundary: Option<Value>,
    /// The grid's 金钟罩 QR link.
    pub qr_link: Option<String>,
    /// The grid's WeChat group name.
    pub wechat_group: Option<String>,
}

/// Validates and inserts an area inside the caller's transaction.
pub fn create(conn: &mut DbConn, input: NewArea, actor: Option<&str>) -> ApiResult<AreaRow> {
    let name = input.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid_field("name", "区域名称需为 1–100 个字符"));
    }
    let level = Level::parse(&input.level).ok_or_else(|| {
        ApiError::invalid_field(
            "level",
            "级别必须是 township（镇）、village（村）或 grid（网格）",
        )
    })?;
    if input.id.as_deref().is_some_and(|id| !area::check_id(id)) {
        return Err(ApiError::invalid_field(
            "id",
            "区域编号需为 1–64 位字母、数字、- 或 _",
        ));
    }
    let boundary = match &input.boundary {
        None | Some(Value::Null) => None,
        Some(b) => Some(
            geo::parse_boundary(b)
                .map_err(|m| {
                    ApiError::bad_request("invalid_geometry", m).with("field", "boundary")
                })?
                .to_string(),
        ),
    };
    for (field, value) in [
        ("qr_link", &input.qr_link),
        ("wechat_group", &input.wechat_group),
    ] {
        if value.as_ref().is_some_and(|v| v.chars().count() > 500) {
            return Err(ApiError::invalid_field(field, "内容过长（最多 500 字）"));
        }
    }
    let parent_id = input.parent_id.filter(|p| !p.is_empty());
    let parent_level = match &parent_id {
        Some(p) => areas::get(conn, p)?.and_then(|a| Level::parse(&a.level)),
        None => None,
    };
    area::check_parent(level, parent_id.as_deref(), parent_level)
        .map_err(|(code, msg)| ApiError::bad_request(code, msg).with("field", "parent_id"))?;
    let id = input.id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    if areas::get(conn, &id)?.is_some() {
        return Err(ApiError::conflict("area_exists", "该区域编号已存在").with("field", "id"));
    }
    let now = now_ms();
    let row = AreaRow {
        id,
        name,
        level: level.as_str().to_owned(),
        parent_id,
        boundary,
        qr_link: input.qr_link,
        wechat_group: input.wechat_group,
        created_at_ms: now,
        updated_at_ms: now,
    };
    areas::insert(conn, &row)?;
    audit::record(
        conn,
        &NewEntry::new(actor, "area_created")
            .target("area", &row.id)
            .detail(serde_json::json!({"name": row.name, "level": row.level, "parent_id": row.parent_id})),
    )?;
    Ok(row)
}
