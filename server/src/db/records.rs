//! Synced records, their per-scope sequences, change history and rejected mutations.

use std::collections::HashMap;

use diesel::prelude::*;

use super::DbConn;
use super::schema::{record_history, records, rejected_mutations, scope_seqs};

/// A record's stored state.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = records, treat_none_as_null = true)]
pub struct RecordRow {
    pub id: String,
    pub entity: String,
    pub scope: String,
    pub seq: i64,
    /// JSON object of current values.
    pub fields: String,
    /// JSON object of each field's HLC.
    pub hlcs: String,
    pub delete_hlc: Option<String>,
    pub restore_hlc: Option<String>,
    pub deleted: bool,
    /// Greatest HLC in the record, for checksums.
    pub version: String,
    /// The record this one belongs to (household, rental, visit target).
    pub parent_id: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// A value that arrived for a record.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = record_history)]
pub struct NewHistory {
    pub record_id: String,
    pub entity: String,
    pub scope: String,
    pub field: String,
    pub value: Option<String>,
    pub hlc: String,
    pub won: bool,
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub mid: Option<i64>,
    pub at_ms: i64,
}

/// A stored history entry.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = record_history)]
pub struct HistoryRow {
    pub id: i64,
    pub record_id: String,
    pub entity: String,
    pub scope: String,
    pub field: String,
    pub value: Option<String>,
    pub hlc: String,
    pub won: bool,
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub mid: Option<i64>,
    pub at_ms: i64,
}

/// A refused mutation kept for review.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = rejected_mutations)]
pub struct NewRejected {
    pub client_id: String,
    pub user_id: String,
    pub mid: i64,
    pub code: String,
    pub message: String,
    pub field: Option<String>,
    pub payload: String,
    pub at_ms: i64,
}

/// One record by id.
pub fn get(conn: &mut DbConn, id: &str) -> QueryResult<Option<RecordRow>> {
    records::table
        .find(id)
        .select(RecordRow::as_select())
        .load(conn)
        .map(super::first_row)
}

/// Writes a record, inserting it when `exists` is false.
pub fn save(conn: &mut DbConn, row: &RecordRow, exists: bool) -> QueryResult<()> {
    if exists {
        diesel::update(records::table.find(&row.id))
            .set(row)
            .execute(conn)?;
    } else {
        diesel::insert_into(records::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

/// Inserts new records in multi-row statements (a full flag recompute).
pub fn insert_all(conn: &mut DbConn, rows: &[RecordRow]) -> QueryResult<()> {
    insert_many!(conn, records::table, rows)
}

/// Every record of a scope, deleted ones included.
pub fn of_scope(conn: &mut DbConn, scope: &str) -> QueryResult<Vec<RecordRow>> {
    records::table
        .filter(records::scope.eq(scope))
        .select(RecordRow::as_select())
        .load(conn)
}

/// The scopes that hold any record, sorted (the order a full recompute locks them in).
pub fn scopes(conn: &mut DbConn) -> QueryResult<Vec<String>> {
    records::table
        .select(records::scope)
        .distinct()
        .order(records::scope.asc())
        .load(conn)
}

/// Records of a scope changed after `after`, in seq order, at most `limit`.
pub fn changed_since(
    conn: &mut DbConn,
    scope: &str,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<RecordRow>> {
    records::table
        .filter(records::scope.eq(scope))
        .filter(records::seq.gt(after))
        .order(records::seq.asc())
        .limit(limit)
        .select(RecordRow::as_select())
        .load(conn)
}

/// Live records of one entity in a scope.
pub fn live_of_entity(conn: &mut DbConn, entity: &str, scope: &str) -> QueryResult<Vec<RecordRow>> {
    records::table
        .filter(records::entity.eq(entity))
        .filter(records::scope.eq(scope))
        .filter(records::deleted.eq(false))
        .select(RecordRow::as_select())
        .load(conn)
}

/// Live records of one entity that belong to `parent_id`.
pub fn live_children(
    conn: &mut DbConn,
    entity: &str,
    parent_id: &str,
) -> QueryResult<Vec<RecordRow>> {
    records::table
        .filter(records::parent_id.eq(parent_id))
        .filter(records::entity.eq(entity))
        .filter(records::deleted.eq(false))
        .select(RecordRow::as_select())
        .load(conn)
}

/// (id, entity, version) of every live record of a scope, for its checksum.
pub fn live_versions(conn: &mut DbConn, scope: &str) -> QueryResult<Vec<(String, String, String)>> {
    records::table
        .filter(records::scope.eq(scope))
        .filter(records::deleted.eq(false))
        .select((records::id, records::entity, records::version))
        .load(conn)
}

/// Appends history rows.
pub fn add_history(conn: &mut DbConn, rows: &[NewHistory]) -> QueryResult<()> {
    insert_many!(conn, record_history::table, rows)
}

/// `field` of a history row that holds every value of one write: its `value` is a JSON
/// array of `[field, value, won]`. Rows naming a single field (one value each) are the
/// earlier form and read the same way.
pub const PACKED: &str = "*";

/// The history row of one write to `row`: the values that arrived (sealed where personal),
/// each with whether it won. One row per write rather than per field: a new record of ten
/// fields costs one insert, not ten.
pub fn packed_history(
    row: &RecordRow,
    values: &[(String, serde_json::Value, bool)],
    hlc: &str,
    user_id: Option<&str>,
    client_id: &str,
    mid: Option<i64>,
    at_ms: i64,
) -> NewHistory {
    // A (field, value, won) tuple serialises as the array `[field, value, won]`.
    let packed = serde_json::to_string(values).unwrap_or_else(|_| "[]".into());
    NewHistory {
        record_id: row.id.clone(),
        entity: row.entity.clone(),
        scope: row.scope.clone(),
        field: PACKED.to_owned(),
        value: Some(packed),
        hlc: hlc.to_owned(),
        won: values.iter().any(|(_, _, won)| *won),
        user_id: user_id.map(str::to_owned),
        client_id: Some(client_id.to_owned()),
        mid,
        at_ms,
    }
}

/// A record's history, oldest first, one entry per value that arrived (a write's packed row
/// becomes one entry per field, in the order they arrived).
pub fn history(conn: &mut DbConn, record_id: &str) -> QueryResult<Vec<HistoryRow>> {
    let rows: Vec<HistoryRow> = record_history::table
        .filter(record_history::record_id.eq(record_id))
        .order(record_history::id.asc())
        .select(HistoryRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().flat_map(unpack).collect())
}

/// The entries of one stored history row.
fn unpack(row: HistoryRow) -> Vec<HistoryRow> {
    if row.field != PACKED {
        return vec![row];
    }
    let values: Vec<(String, serde_json::Value, bool)> = row
        .value
        .as_deref()
        .and_then(|v| serde_json::from_str(v).ok())
        .unwrap_or_default();
    values
        .into_iter()
        .map(|(field, value, won)| HistoryRow {
            field,
            value: (!value.is_null()).then(|| value.to_string()),
            won,
            ..row.clone()
        })
        .collect()
}

/// Keeps a refused mutation.
pub fn add_rejected(conn: &mut DbConn, row: &NewRejected) -> QueryResult<()> {
    diesel::insert_into(rejected_mutations::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Current sequence of a scope (0 when it has none).
pub fn scope_seq(conn: &mut DbConn, scope: &str) -> QueryResult<i64> {
    Ok(scope_seqs::table
        .find(scope)
        .select(scope_seqs::seq)
        .load(conn)
        .map(super::first_row)?
        .unwrap_or(0))
}

/// Hands out sequence numbers inside one write transaction. A scope is locked first
/// (`UPDATE scope_seqs SET seq = seq`, which holds the row lock until commit): a concurrent
/// writer to the same scope waits, so seq order is commit order, and a record read after the
/// lock cannot be changed underneath. Numbers are then counted in memory and written back
/// by [`SeqAllocator::finish`].
#[derive(Default)]
pub struct SeqAllocator {
    /// Last number used per locked scope, and whether it moved.
    last: HashMap<String, (i64, bool)>,
}

impl SeqAllocator {
    /// Takes a scope's lock (once per transaction). Lock a batch's scopes in sorted order
    /// before reading their records, so two batches never wait on each other in a cycle.
    pub fn lock(&mut self, conn: &mut DbConn, scope: &str) -> QueryResult<()> {
        if self.last.contains_key(scope) {
            return Ok(());
        }
        let updated = diesel::update(scope_seqs::table.find(scope))
            .set(scope_seqs::seq.eq(scope_seqs::seq))
            .execute(conn)?;
        if updated == 0 {
            return Err(diesel::result::Error::NotFound);
        }
        let seq = scope_seq(conn, scope)?;
        self.last.insert(scope.to_owned(), (seq, false));
        Ok(())
    }

    /// The next seq of `scope` (locking it if needed).
    pub fn next(&mut self, conn: &mut DbConn, scope: &str) -> QueryResult<i64> {
        self.lock(conn, scope)?;
        let entry = self
            .last
            .get_mut(scope)
            .ok_or(diesel::result::Error::NotFound)?;
        entry.0 += 1;
        entry.1 = true;
        Ok(entry.0)
    }

    /// Stores the last number handed out for each scope that moved.
    pub fn finish(self, conn: &mut DbConn) -> QueryResult<()> {
        for (scope, (seq, moved)) in self.last {
            if moved {
                diesel::update(scope_seqs::table.find(&scope))
                    .set(scope_seqs::seq.eq(seq))
                    .execute(conn)?;
            }
        }
        Ok(())
    }
}
