//! Creating and changing areas of the township tree.

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
    let name = check_name(&input.name)?;
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
    let boundary = check_boundary(input.boundary.as_ref())?;
    check_texts(&input.qr_link, &input.wechat_group)?;
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

/// Changes to an area (`PATCH /api/admin/areas/{id}`): only the fields given change; a
/// `null` boundary, QR link or group name clears it. Level and parent stay (records are
/// filed under their area for good).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AreaPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub boundary: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    pub qr_link: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub wechat_group: Option<Option<String>>,
}

/// Tells a field sent as `null` (Some(None)) from one left out (None).
fn present<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Validates and applies a patch inside the caller's transaction.
pub fn update(
    conn: &mut DbConn,
    id: &str,
    patch: AreaPatch,
    actor: Option<&str>,
) -> ApiResult<AreaRow> {
    let mut row = areas::get(conn, id)?.ok_or_else(|| ApiError::not_found("区域不存在"))?;
    if let Some(name) = &patch.name {
        row.name = check_name(name)?;
    }
    if let Some(boundary) = &patch.boundary {
        row.boundary = check_boundary(boundary.as_ref())?;
    }
    let qr = patch.qr_link.clone().unwrap_or(row.qr_link.clone());
    let group = patch
        .wechat_group
        .clone()
        .unwrap_or(row.wechat_group.clone());
    check_texts(&qr, &group)?;
    row.qr_link = qr;
    row.wechat_group = group;
    row.updated_at_ms = now_ms();
    areas::update(conn, &row)?;
    audit::record(
        conn,
        &NewEntry::new(actor, "area_changed")
            .target("area", &row.id)
            .detail(serde_json::json!({
                "name": patch.name,
                "boundary_changed": patch.boundary.is_some(),
                "qr_link": patch.qr_link,
                "wechat_group": patch.wechat_group,
            })),
    )?;
    Ok(row)
}

fn check_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid_field("name", "区域名称需为 1–100 个字符"));
    }
    Ok(name.to_owned())
}

/// The stored text of a GeoJSON boundary, checked.
fn check_boundary(boundary: Option<&Value>) -> ApiResult<Option<String>> {
    match boundary {
        None | Some(Value::Null) => Ok(None),
        Some(b) => Ok(Some(
            geo::parse_boundary(b)
                .map_err(|m| {
                    ApiError::bad_request("invalid_geometry", m).with("field", "boundary")
                })?
                .to_string(),
        )),
    }
}

fn check_texts(qr_link: &Option<String>, wechat_group: &Option<String>) -> ApiResult<()> {
    for (field, value) in [("qr_link", qr_link), ("wechat_group", wechat_group)] {
        if value.as_ref().is_some_and(|v| v.chars().count() > 500) {
            return Err(ApiError::invalid_field(field, "内容过长（最多 500 字）"));
        }
        if value
            .as_ref()
            .is_some_and(|v| v.chars().any(char::is_control))
        {
            return Err(ApiError::invalid_field(field, "内容不能包含控制字符"));
        }
    }
    if let Some(link) = qr_link
        && !(link.starts_with("https://") || link.starts_with("http://"))
    {
        return Err(ApiError::invalid_field(
            "qr_link",
            "二维码链接应以 https:// 或 http:// 开头（扫描金钟罩二维码可得）",
        ));
    }
    Ok(())
}
