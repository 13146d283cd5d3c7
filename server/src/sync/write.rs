//! Applying one mutation to the stored record: merge, new seq, history. Used by device
//! pushes and by server-side writes (node id `server`), so both follow the same rules.
//!
//! Personal values (ID numbers, phones) are encrypted here, at the storage boundary: the
//! merge works on plain values, the database only ever holds ciphertext, in the record and in
//! its history. Person records also keep their keyed ID hash in `id_index`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::Value;

use super::entities;
use super::merge::{Op, RecordState};
use crate::crypto::FieldCipher;
use crate::db::personal::{self, IdIndexRow};
use crate::db::records::{self, NewHistory, RecordRow, SeqAllocator};
use crate::db::{DbConn, blobs};

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

/// Whether a field of an entity holds personal data kept encrypted.
fn sensitive(entity: &str, field: &str) -> bool {
    entities::entity(entity)
        .and_then(|e| e.field(field))
        .is_some_and(entities::is_sensitive)
}

/// Opens a stored value of a field (decrypting personal values).
pub fn open_value(cipher: &FieldCipher, entity: &str, field: &str, value: Value) -> Value {
    match value {
        Value::String(s) if sensitive(entity, field) => Value::String(
            cipher
                .decrypt(&s)
                .unwrap_or_else(|| "（无法解密）".to_owned()),
        ),
        other => other,
    }
}

/// A value as stored: personal values encrypted, the rest as they are (borrowed, not
/// copied: a flag's reasons are copied often enough).
fn seal_value<'v>(
    cipher: &FieldCipher,
    entity: &str,
    field: &str,
    value: &'v Value,
) -> Cow<'v, Value> {
    match value {
        Value::String(s) if sensitive(entity, field) => {
            Cow::Owned(Value::String(cipher.encrypt(s)))
        }
        other => Cow::Borrowed(other),
    }
}

/// Parses a stored row into its mergeable state, with personal values in the clear.
pub fn state_of(row: &RecordRow, cipher: &FieldCipher) -> RecordState {
    let stored: BTreeMap<String, Value> = serde_json::from_str(&row.fields).unwrap_or_default();
    RecordState {
        fields: stored
            .into_iter()
            .map(|(k, v)| {
                let v = open_value(cipher, &row.entity, &k, v);
                (k, v)
            })
            .collect(),
        hlcs: serde_json::from_str(&row.hlcs).unwrap_or_default(),
        delete_hlc: row.delete_hlc.clone(),
        restore_hlc: row.restore_hlc.clone(),
    }
}

/// A merged record ready to be stored, with the history entries of the values that arrived.
pub struct Prepared {
    /// The record as it will be stored (personal values sealed).
    pub row: RecordRow,
    /// Whether the record existed before (update) or not (insert).
    pub exists: bool,
    /// The write's history row: every value that arrived, winning or losing.
    pub history: NewHistory,
    state: RecordState,
    /// Whether the write may change which photos the record refers to.
    photos_touched: bool,
}

/// Merges `op` at `hlc` into the record (created if absent) and stores it with a new seq
/// when anything changed. Returns the stored row.
#[allow(clippy::too_many_arguments)]
pub fn apply(
    conn: &mut DbConn,
    seqs: &mut SeqAllocator,
    cipher: &FieldCipher,
    existing: Option<RecordRow>,
    target: Target<'_>,
    op: &Op,
    hlc: &str,
    writer: Writer<'_>,
    now_ms: i64,
) -> diesel::QueryResult<RecordRow> {
    let prepared = prepare(
        conn,
        seqs,
        cipher,
        existing.as_ref(),
        target,
        op,
        hlc,
        writer,
        now_ms,
    )?;
    match (prepared, existing) {
        (Some(prepared), _) => store(conn, cipher, prepared),
        (None, Some(unchanged)) => Ok(unchanged),
        // `prepare` only declines to write when the record exists.
        (None, None) => Err(diesel::result::Error::NotFound),
    }
}

/// The merge half of [`apply`]: the record to store and its history, or `None` when the
/// mutation changes nothing on an existing record. Takes the record's new seq, so the
/// result must be stored in the same transaction ([`store`], or in bulk by the caller).
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    conn: &mut DbConn,
    seqs: &mut SeqAllocator,
    cipher: &FieldCipher,
    existing: Option<&RecordRow>,
    target: Target<'_>,
    op: &Op,
    hlc: &str,
    writer: Writer<'_>,
    now_ms: i64,
) -> diesel::QueryResult<Option<Prepared>> {
    let mut state = existing.map(|r| state_of(r, cipher)).unwrap_or_default();
    let outcomes = state.apply(op, hlc);
    if existing.is_some() && outcomes.is_empty() {
        return Ok(None);
    }
    let seq = seqs.next(conn, target.scope)?;
    let sealed: BTreeMap<&String, Cow<Value>> = state
        .fields
        .iter()
        .map(|(k, v)| (k, seal_value(cipher, target.entity, k, v)))
        .collect();
    let row = RecordRow {
        id: target.id.to_owned(),
        entity: target.entity.to_owned(),
        scope: target.scope.to_owned(),
        seq,
        fields: serde_json::to_string(&sealed).unwrap_or_else(|_| "{}".into()),
        hlcs: serde_json::to_string(&state.hlcs).unwrap_or_else(|_| "{}".into()),
        deleted: state.deleted(),
        version: state.max_hlc().unwrap_or(hlc).to_owned(),
        parent_id: ["household_id", "rental_id", "target_id"]
            .iter()
            .find_map(|f| state.fields.get(*f)?.as_str())
            .map(str::to_owned),
        delete_hlc: state.delete_hlc.clone(),
        restore_hlc: state.restore_hlc.clone(),
        created_at_ms: existing.map_or(now_ms, |r| r.created_at_ms),
        updated_at_ms: now_ms,
    };
    // One history row per write: the values that arrived together, each with whether it
    // won (`records::history` reads them back one entry per value).
    let values: Vec<(String, Value, bool)> = outcomes
        .into_iter()
        .map(|o| {
            let value = if sensitive(&row.entity, &o.field) {
                seal_value(cipher, &row.entity, &o.field, &o.value).into_owned()
            } else {
                o.value
            };
            (o.field, value, o.won)
        })
        .collect();
    let history = records::packed_history(
        &row,
        &values,
        hlc,
        writer.user_id,
        writer.client_id,
        writer.mid,
        now_ms,
    );
    Ok(Some(Prepared {
        row,
        exists: existing.is_some(),
        history,
        state,
        photos_touched: touches_photos(target.entity, op),
    }))
}

/// The storage half of [`apply`]: the record, its history and its ID-hash index.
pub fn store(
    conn: &mut DbConn,
    cipher: &FieldCipher,
    prepared: Prepared,
) -> diesel::QueryResult<RecordRow> {
    let Prepared {
        row,
        exists,
        history,
        state,
        photos_touched,
    } = prepared;
    records::save(conn, &row, exists)?;
    records::add_history(conn, std::slice::from_ref(&history))?;
    if matches!(row.entity.as_str(), "tenant" | "member") {
        index_person(conn, cipher, &row, &state)?;
    }
    if photos_touched {
        refer_photos(conn, &row, &state)?;
    }
    Ok(row)
}

/// Stores many prepared records at once (an import): new records and all history in
/// multi-row statements, existing records one by one, and the ID-hash index rows of person
/// records replaced in bulk. Same result as [`store`] on each, in far fewer statements.
pub fn store_all(
    conn: &mut DbConn,
    cipher: &FieldCipher,
    prepared: Vec<Prepared>,
) -> diesel::QueryResult<()> {
    let mut inserts = Vec::with_capacity(prepared.len());
    let mut history = Vec::with_capacity(prepared.len());
    let mut indexed = Vec::new();
    let mut index_rows = Vec::new();
    for p in prepared {
        if p.photos_touched {
            refer_photos(conn, &p.row, &p.state)?;
        }
        if matches!(p.row.entity.as_str(), "tenant" | "member") {
            indexed.push(p.row.id.clone());
            index_rows.extend(index_entry(cipher, &p.row, &p.state));
        }
        history.push(p.history);
        if p.exists {
            records::save(conn, &p.row, true)?;
        } else {
            inserts.push(p.row);
        }
    }
    records::insert_all(conn, &inserts)?;
    records::add_history(conn, &history)?;
    personal::replace_index(conn, &indexed, &index_rows)
}

/// Whether `op` can change which photos a record refers to: a put of `photos`, or a delete
/// or restore of a record that has them. Other writes skip the lookup.
fn touches_photos(entity: &str, op: &Op) -> bool {
    let has_photos = entities::entity(entity)
        .and_then(|e| e.field("photos"))
        .is_some_and(|k| k == entities::Kind::Photos);
    has_photos
        && match op {
            Op::Put(fields) => fields.contains_key("photos"),
            Op::Delete | Op::Restore => true,
        }
}

/// Keeps `blob_refs` in step with the record's winning `photos` value, in the same
/// transaction, so serving a photo checks scope with one lookup. A deleted record refers to
/// nothing (its photos age towards gc; a restore refers to them again).
fn refer_photos(
    conn: &mut DbConn,
    row: &RecordRow,
    state: &RecordState,
) -> diesel::QueryResult<()> {
    let digests: std::collections::BTreeSet<String> = if row.deleted {
        Default::default()
    } else {
        state
            .fields
            .get("photos")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    blobs::set_refs(
        conn,
        &row.id,
        &row.entity,
        &row.scope,
        &digests,
        row.updated_at_ms,
    )
}

/// Keeps the keyed hash of a person's ID number; a tenant counts as active at its rental
/// until it moves out or is deleted.
fn index_person(
    conn: &mut DbConn,
    cipher: &FieldCipher,
    row: &RecordRow,
    state: &RecordState,
) -> diesel::QueryResult<()> {
    let entry = index_entry(cipher, row, state);
    personal::set_index(conn, &row.id, entry.as_ref())
}

/// A person record's ID-hash index row, if it has an ID number.
fn index_entry(cipher: &FieldCipher, row: &RecordRow, state: &RecordState) -> Option<IdIndexRow> {
    let text = |name: &str| state.fields.get(name).and_then(Value::as_str);
    text("id_number")
        .filter(|n| !n.trim().is_empty())
        .map(|n| IdIndexRow {
            record_id: row.id.clone(),
            entity: row.entity.clone(),
            scope: row.scope.clone(),
            id_hash: cipher.id_hash(n),
            rental_id: text("rental_id").map(str::to_owned),
            active: !row.deleted && state.fields.get("move_out").is_none_or(Value::is_null),
        })
}
