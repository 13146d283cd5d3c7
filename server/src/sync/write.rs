//! Applying one mutation to the stored record: merge, new seq, history. Used by device
//! pushes and by server-side writes (node id `server`), so both follow the same rules.

use std::collections::BTreeMap;

use super::merge::{Op, RecordState};
use crate::db::DbConn;
use crate::db::records::{self, NewHistory, RecordRow, SeqAllocator};

/// Who wrote a change, for the history.
#[derive(Debug, Clone, Copy)]
pub struct Writer<'a> {
    /// The user, or `None` for the server.
    pub user_id: Option<&'a str>,
    /// The device's client_id, or `server`.
    pub client_id: &'a str,
    /// The device's mutation number.
    pub mid: Option<i64>,
}

/// Where a mutation lands.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// Entity name.
    pub entity: &'a str,
    /// Record id.
    pub id: &'a str,
    /// Scope (area id).
    pub scope: &'a str,
}

/// Parses a stored row into its mergeable state.
pub fn state_of(row: &RecordRow) -> RecordState {
    RecordState {
        fields: serde_json::from_str(&row.fields).unwrap_or_default(),
        hlcs: serde_json::from_str(&row.hlcs).unwrap_or_default(),
        delete_hlc: row.delete_hlc.clone(),
        restore_hlc: row.restore_hlc.clone(),
    }
}

/// Merges `op` at `hlc` into the record (created if absent) and stores it with a new seq
/// when anything changed. Returns the stored row.
#[allow(clippy::too_many_arguments)]
pub fn apply(
    conn: &mut DbConn,
    seqs: &mut SeqAllocator,
    existing: Option<RecordRow>,
    target: Target<'_>,
    op: &Op,
    hlc: &str,
    writer: Writer<'_>,
    now_ms: i64,
) -> diesel::QueryResult<RecordRow> {
    let mut state = existing.as_ref().map(state_of).unwrap_or_default();
    let outcomes = state.apply(op, hlc);
    if let Some(row) = &existing
        && outcomes.is_empty()
    {
        return Ok(row.clone());
    }
    let seq = seqs.next(conn, target.scope)?;
    let row = RecordRow {
        id: target.id.to_owned(),
        entity: target.entity.to_owned(),
        scope: target.scope.to_owned(),
        seq,
        fields: to_json(&state.fields),
        hlcs: to_json(&state.hlcs),
        deleted: state.deleted(),
        version: state.max_hlc().unwrap_or(hlc).to_owned(),
        delete_hlc: state.delete_hlc,
        restore_hlc: state.restore_hlc,
        created_at_ms: existing.as_ref().map_or(now_ms, |r| r.created_at_ms),
        updated_at_ms: now_ms,
    };
    records::save(conn, &row, existing.is_some())?;
    let history: Vec<NewHistory> = outcomes
        .into_iter()
        .map(|o| NewHistory {
            record_id: row.id.clone(),
            entity: row.entity.clone(),
            scope: row.scope.clone(),
            field: o.field,
            value: (!o.value.is_null()).then(|| o.value.to_string()),
            hlc: hlc.to_owned(),
            won: o.won,
            user_id: writer.user_id.map(str::to_owned),
            client_id: Some(writer.client_id.to_owned()),
            mid: writer.mid,
            at_ms: now_ms,
        })
        .collect();
    records::add_history(conn, &history)?;
    Ok(row)
}

fn to_json<V: serde::Serialize>(map: &BTreeMap<String, V>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".into())
}
