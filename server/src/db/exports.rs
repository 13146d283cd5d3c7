//! Reads for exports: live records of an entity in a set of scopes, and records by id,
//! without the columns an export does not need (HLCs, deletion registers).

use diesel::prelude::*;

use super::DbConn;
use super::schema::records;

/// What an export reads of a record.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = records)]
pub struct ExportRow {
    pub id: String,
    pub entity: String,
    pub scope: String,
    /// JSON object of current values (personal values encrypted).
    pub fields: String,
    pub parent_id: Option<String>,
    pub updated_at_ms: i64,
}

/// Scopes per query: well under SQLite's bound-parameter limit.
const CHUNK: usize = 500;

/// Live records of `entity` in these scopes (every scope when `None`), oldest first.
pub fn live_in_scopes(
    conn: &mut DbConn,
    entity: &str,
    scopes: Option<&[String]>,
) -> QueryResult<Vec<ExportRow>> {
    let base = || {
        records::table
            .filter(records::entity.eq(entity.to_owned()))
            .filter(records::deleted.eq(false))
            .select(ExportRow::as_select())
            .into_boxed()
    };
    let mut rows = match scopes {
        None => base().load(conn)?,
        Some(scopes) => {
            let mut rows = Vec::new();
            for chunk in scopes.chunks(CHUNK) {
                rows.extend(base().filter(records::scope.eq_any(chunk)).load(conn)?);
            }
            rows
        }
    };
    rows.sort_by(|a, b| {
        (a.scope.as_str(), a.updated_at_ms, a.id.as_str()).cmp(&(
            b.scope.as_str(),
            b.updated_at_ms,
            b.id.as_str(),
        ))
    });
    Ok(rows)
}

/// Records with these ids (deleted ones included; unknown ids left out).
pub fn by_ids(conn: &mut DbConn, ids: &[String]) -> QueryResult<Vec<ExportRow>> {
    let mut rows = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        rows.extend(
            records::table
                .filter(records::id.eq_any(chunk))
                .select(ExportRow::as_select())
                .load(conn)?,
        );
    }
    Ok(rows)
}
