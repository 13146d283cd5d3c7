//! The ID-hash index and the access log of full personal values.

use diesel::prelude::*;

use super::DbConn;
use super::schema::{access_log, id_index};

/// One person record's keyed ID hash.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = id_index)]
pub struct IdIndexRow {
    pub record_id: String,
    pub entity: String,
    pub scope: String,
    pub id_hash: String,
    pub rental_id: Option<String>,
    pub active: bool,
}

/// Replaces a record's index row (`None` removes it).
pub fn set_index(conn: &mut DbConn, record_id: &str, row: Option<&IdIndexRow>) -> QueryResult<()> {
    diesel::delete(id_index::table.find(record_id)).execute(conn)?;
    if let Some(row) = row {
        diesel::insert_into(id_index::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

/// Replaces the index rows of many records at once: removes those of `record_ids`, then
/// inserts `rows` (a bulk import).
pub fn replace_index(
    conn: &mut DbConn,
    record_ids: &[String],
    rows: &[IdIndexRow],
) -> QueryResult<()> {
    for chunk in record_ids.chunks(500) {
        diesel::delete(id_index::table.filter(id_index::record_id.eq_any(chunk))).execute(conn)?;
    }
    insert_many!(conn, id_index::table, rows)
}

/// Index rows with this hash, active or not.
pub fn with_hash(conn: &mut DbConn, hash: &str) -> QueryResult<Vec<IdIndexRow>> {
    id_index::table
        .filter(id_index::id_hash.eq(hash))
        .select(IdIndexRow::as_select())
        .load(conn)
}

/// Every tenant's index row (a full recompute holds them in memory).
pub fn tenants(conn: &mut DbConn) -> QueryResult<Vec<IdIndexRow>> {
    id_index::table
        .filter(id_index::entity.eq("tenant"))
        .select(IdIndexRow::as_select())
        .load(conn)
}

/// A record's index row.
pub fn index_of(conn: &mut DbConn, record_id: &str) -> QueryResult<Option<IdIndexRow>> {
    id_index::table
        .find(record_id)
        .select(IdIndexRow::as_select())
        .load(conn)
        .map(super::first_row)
}

/// A delivery of full values to a person.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = access_log)]
pub struct NewAccess {
    pub at_ms: i64,
    pub user_id: String,
    pub record_id: String,
    pub entity: String,
    /// Comma-separated field names delivered in full.
    pub fields: String,
    /// Why: `sync_pull`, `history`, `review`, …
    pub purpose: String,
}

/// A stored access entry.
#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = access_log)]
pub struct AccessRow {
    pub id: i64,
    pub at_ms: i64,
    pub user_id: String,
    pub record_id: String,
    pub entity: String,
    pub fields: String,
    pub purpose: String,
}

/// Appends access entries.
pub fn log_access(conn: &mut DbConn, rows: &[NewAccess]) -> QueryResult<()> {
    insert_many!(conn, access_log::table, rows)
}

/// The newest access entries first.
pub fn recent_access(conn: &mut DbConn, limit: i64) -> QueryResult<Vec<AccessRow>> {
    access_log::table
        .order(access_log::id.desc())
        .limit(limit)
        .select(AccessRow::as_select())
        .load(conn)
}
