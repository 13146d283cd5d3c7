//! Stored photos (`blobs`) and the records that refer to them (`blob_refs`).

use std::collections::{BTreeSet, HashMap};

use diesel::prelude::*;

use super::DbConn;
use super::schema::{blob_refs, blobs};

/// What the server knows about a stored photo.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = blobs)]
pub struct BlobRow {
    pub sha256: String,
    pub mime: String,
    pub width: i64,
    pub height: i64,
    pub display_bytes: i64,
    pub thumb_bytes: i64,
    pub gps_lat_e7: Option<i64>,
    pub gps_lng_e7: Option<i64>,
    pub created_at_ms: i64,
}

/// A record's reference to a photo.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = blob_refs)]
pub struct RefRow {
    pub sha256: String,
    pub record_id: String,
    pub entity: String,
    pub scope: String,
    pub active: bool,
    pub referred_at_ms: i64,
}

/// One stored photo by digest.
pub fn get(conn: &mut DbConn, sha256: &str) -> QueryResult<Option<BlobRow>> {
    blobs::table
        .find(sha256)
        .select(BlobRow::as_select())
        .load(conn)
        .map(super::first_row)
}

/// Stores a photo's row; `false` when another upload of the same digest got there first.
pub fn insert(conn: &mut DbConn, row: &BlobRow) -> QueryResult<bool> {
    match diesel::insert_into(blobs::table).values(row).execute(conn) {
        Ok(_) => Ok(true),
        Err(e) if super::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The digests among `digests` that are stored.
pub fn stored(conn: &mut DbConn, digests: &[String]) -> QueryResult<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for chunk in digests.chunks(500) {
        out.extend(
            blobs::table
                .filter(blobs::sha256.eq_any(chunk))
                .select(blobs::sha256)
                .load::<String>(conn)?,
        );
    }
    Ok(out)
}

/// (digest, entity, scope) of the live references to any of `digests`.
pub fn active_refs(
    conn: &mut DbConn,
    digests: &[String],
) -> QueryResult<Vec<(String, String, String)>> {
    let mut out = Vec::new();
    for chunk in digests.chunks(500) {
        out.extend(
            blob_refs::table
                .filter(blob_refs::sha256.eq_any(chunk))
                .filter(blob_refs::active.eq(true))
                .select((blob_refs::sha256, blob_refs::entity, blob_refs::scope))
                .load::<(String, String, String)>(conn)?,
        );
    }
    Ok(out)
}

/// Makes a record's references match `digests` (empty for a deleted record), inside the
/// transaction that writes the record. Dropped photos stay as inactive rows stamped with
/// the time they were dropped, which is what `fangzha gc` ages.
pub fn set_refs(
    conn: &mut DbConn,
    record_id: &str,
    entity: &str,
    scope: &str,
    digests: &BTreeSet<String>,
    now_ms: i64,
) -> QueryResult<()> {
    let existing: HashMap<String, bool> = blob_refs::table
        .filter(blob_refs::record_id.eq(record_id))
        .select((blob_refs::sha256, blob_refs::active))
        .load::<(String, bool)>(conn)?
        .into_iter()
        .collect();
    let mut new_rows = Vec::new();
    for digest in digests {
        match existing.get(digest) {
            Some(true) => {}
            Some(false) => {
                diesel::update(blob_refs::table.find((digest, record_id)))
                    .set((
                        blob_refs::active.eq(true),
                        blob_refs::referred_at_ms.eq(now_ms),
                    ))
                    .execute(conn)?;
            }
            None => new_rows.push(RefRow {
                sha256: digest.clone(),
                record_id: record_id.to_owned(),
                entity: entity.to_owned(),
                scope: scope.to_owned(),
                active: true,
                referred_at_ms: now_ms,
            }),
        }
    }
    let dropped: Vec<&String> = existing
        .iter()
        .filter(|(d, active)| **active && !digests.contains(*d))
        .map(|(d, _)| d)
        .collect();
    if !dropped.is_empty() {
        diesel::update(
            blob_refs::table
                .filter(blob_refs::record_id.eq(record_id))
                .filter(blob_refs::sha256.eq_any(dropped)),
        )
        .set((
            blob_refs::active.eq(false),
            blob_refs::referred_at_ms.eq(now_ms),
        ))
        .execute(conn)?;
    }
    insert_many!(conn, blob_refs::table, new_rows)
}

/// Stored photos that no record refers to now and none has since `cutoff_ms` (nor were they
/// stored after it), oldest first.
pub fn unreferred_since(conn: &mut DbConn, cutoff_ms: i64) -> QueryResult<Vec<BlobRow>> {
    let rows: Vec<BlobRow> = blobs::table
        .filter(blobs::created_at_ms.lt(cutoff_ms))
        .filter(diesel::dsl::not(diesel::dsl::exists(
            blob_refs::table
                .filter(blob_refs::sha256.eq(blobs::sha256))
                .filter(
                    blob_refs::active
                        .eq(true)
                        .or(blob_refs::referred_at_ms.ge(cutoff_ms)),
                ),
        )))
        .order(blobs::created_at_ms.asc())
        .select(BlobRow::as_select())
        .load(conn)?;
    Ok(rows)
}

/// Deletes a photo's row and its inactive references, unless a record referred to it again
/// meanwhile. Returns whether it was deleted (then its objects may go).
pub fn delete_if_unreferred(conn: &mut DbConn, sha256: &str, cutoff_ms: i64) -> QueryResult<bool> {
    let still: i64 = blob_refs::table
        .filter(blob_refs::sha256.eq(sha256))
        .filter(
            blob_refs::active
                .eq(true)
                .or(blob_refs::referred_at_ms.ge(cutoff_ms)),
        )
        .count()
        .get_result(conn)?;
    if still > 0 {
        return Ok(false);
    }
    diesel::delete(blob_refs::table.filter(blob_refs::sha256.eq(sha256))).execute(conn)?;
    Ok(diesel::delete(blobs::table.find(sha256)).execute(conn)? > 0)
}
