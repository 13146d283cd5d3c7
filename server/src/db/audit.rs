//! The audit log: who did what to which record, for admins and investigators.

use diesel::prelude::*;

use super::schema::audit_log;
use super::{DbConn, now_ms};

/// An audit entry to write.
#[derive(Debug, Clone, Default, Insertable)]
#[diesel(table_name = audit_log)]
pub struct NewEntry {
    pub at_ms: i64,
    pub actor_id: Option<String>,
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub detail: Option<String>,
    pub ip: Option<String>,
}

/// An audit entry as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct EntryRow {
    pub id: i64,
    pub at_ms: i64,
    pub actor_id: Option<String>,
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub detail: Option<String>,
    pub ip: Option<String>,
}

impl NewEntry {
    /// An entry for `action` by `actor` now.
    pub fn new(actor_id: Option<&str>, action: &str) -> Self {
        NewEntry {
            at_ms: now_ms(),
            actor_id: actor_id.map(str::to_owned),
            action: action.to_owned(),
            ..Default::default()
        }
    }

    /// Names the record acted on.
    pub fn target(mut self, kind: &str, id: &str) -> Self {
        self.target_kind = Some(kind.to_owned());
        self.target_id = Some(id.to_owned());
        self
    }

    /// Adds a JSON detail (never a secret or a full personal value).
    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail.to_string());
        self
    }

    /// Adds the client address.
    pub fn ip(mut self, ip: Option<String>) -> Self {
        self.ip = ip;
        self
    }
}

/// Writes an entry.
pub fn record(conn: &mut DbConn, entry: &NewEntry) -> QueryResult<()> {
    diesel::insert_into(audit_log::table)
        .values(entry)
        .execute(conn)
        .map(|_| ())
}

/// The newest entries first.
pub fn recent(conn: &mut DbConn, limit: i64) -> QueryResult<Vec<EntryRow>> {
    audit_log::table
        .order(audit_log::id.desc())
        .limit(limit)
        .select(EntryRow::as_select())
        .load(conn)
}
