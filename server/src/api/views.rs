//! Response shapes, kept apart from database rows.

use serde::Serialize;
use serde_json::Value;

use crate::db::areas::AreaRow;
use crate::db::users::{AssignmentRow, UserRow};
use crate::domain::account::Role;
use crate::domain::area::Level;

/// An area as the API shows it.
#[derive(Serialize)]
pub struct AreaView {
    pub id: String,
    pub name: String,
    pub level: String,
    pub level_label: &'static str,
    pub parent_id: Option<String>,
    pub boundary: Option<Value>,
    pub qr_link: Option<String>,
    pub wechat_group: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl From<AreaRow> for AreaView {
    fn from(r: AreaRow) -> Self {
        AreaView {
            level_label: Level::parse(&r.level).map(Level::label).unwrap_or(""),
            boundary: r.boundary.and_then(|b| serde_json::from_str(&b).ok()),
            id: r.id,
            name: r.name,
            level: r.level,
            parent_id: r.parent_id,
            qr_link: r.qr_link,
            wechat_group: r.wechat_group,
            created_at_ms: r.created_at_ms,
            updated_at_ms: r.updated_at_ms,
        }
    }
}

/// An area in a user's list: enough to show and to pick.
#[derive(Serialize)]
pub struct AreaBrief {
    pub id: String,
    pub name: String,
    pub level: String,
    pub parent_id: Option<String>,
}

impl From<AreaRow> for AreaBrief {
    fn from(r: AreaRow) -> Self {
        AreaBrief {
            id: r.id,
            name: r.name,
            level: r.level,
            parent_id: r.parent_id,
        }
    }
}

/// A user as shown to themselves and to admins; `areas` holds area ids as the admin API
/// takes them, `area_details` the same areas with names for display.
#[derive(Serialize)]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub name: String,
    pub role: String,
    pub role_label: &'static str,
    pub disabled: bool,
    pub areas: Vec<String>,
    pub area_details: Vec<AreaBrief>,
    pub created_at_ms: i64,
}

impl UserView {
    /// Builds the view from the row and the current areas.
    pub fn new(user: UserRow, areas: Vec<AreaRow>) -> Self {
        UserView {
            role_label: Role::parse(&user.role).map(Role::label).unwrap_or(""),
            areas: areas.iter().map(|a| a.id.clone()).collect(),
            area_details: areas.into_iter().map(AreaBrief::from).collect(),
            id: user.id,
            username: user.username,
            name: user.name,
            role: user.role,
            disabled: user.disabled,
            created_at_ms: user.created_at_ms,
        }
    }
}

/// One period of a user's assignment history.
#[derive(Serialize)]
pub struct AssignmentView {
    pub area_id: String,
    pub role: String,
    pub valid_from_ms: i64,
    pub valid_to_ms: Option<i64>,
    pub assigned_by: Option<String>,
}

impl From<AssignmentRow> for AssignmentView {
    fn from(r: AssignmentRow) -> Self {
        AssignmentView {
            area_id: r.area_id,
            role: r.role,
            valid_from_ms: r.valid_from_ms,
            valid_to_ms: r.valid_to_ms,
            assigned_by: r.assigned_by,
        }
    }
}
