//! Refresh tokens, stored as SHA-256 digests and chained into families by rotation.

use diesel::prelude::*;

use super::DbConn;
use super::schema::refresh_tokens;

/// One issued refresh token.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshRow {
    pub id: String,
    pub family_id: String,
    pub user_id: String,
    pub token_hash: String,
    pub device_name: Option<String>,
    pub issued_at_ms: i64,
    pub expires_at_ms: i64,
    pub rotated_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
}

/// Stores a new token.
pub fn insert(conn: &mut DbConn, row: &RefreshRow) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Finds a token by its digest.
pub fn by_hash(conn: &mut DbConn, hash: &str) -> QueryResult<Option<RefreshRow>> {
    refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(hash))
        .select(RefreshRow::as_select())
        .load(conn)
        .map(super::first_row)
}

/// Marks a token used, only if it was still fresh. Returns false when another request
/// rotated or revoked it first, so two concurrent refreshes cannot both succeed.
pub fn claim_for_rotation(conn: &mut DbConn, id: &str, now: i64) -> QueryResult<bool> {
    let n = diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::id.eq(id))
            .filter(refresh_tokens::rotated_at_ms.is_null())
            .filter(refresh_tokens::revoked_at_ms.is_null()),
    )
    .set(refresh_tokens::rotated_at_ms.eq(Some(now)))
    .execute(conn)?;
    Ok(n == 1)
}

/// Revokes every token of a login (a family). Returns how many were still live.
pub fn revoke_family(conn: &mut DbConn, family_id: &str, now: i64) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at_ms.is_null()),
    )
    .set(refresh_tokens::revoked_at_ms.eq(Some(now)))
    .execute(conn)
}

/// Revokes every token of a user (disabled account, password reset).
pub fn revoke_user(conn: &mut DbConn, user_id: &str, now: i64) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::user_id.eq(user_id))
            .filter(refresh_tokens::revoked_at_ms.is_null()),
    )
    .set(refresh_tokens::revoked_at_ms.eq(Some(now)))
    .execute(conn)
}
