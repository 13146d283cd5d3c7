//! Accounts and their area assignments over time.

use diesel::prelude::*;

use super::DbConn;
use super::schema::{role_assignments, users};

/// One account as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub name: String,
    pub role: String,
    pub password_hash: String,
    pub disabled: bool,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// One period during which a user held an area.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = role_assignments)]
pub struct AssignmentRow {
    pub id: String,
    pub user_id: String,
    pub role: String,
    pub area_id: String,
    pub valid_from_ms: i64,
    pub valid_to_ms: Option<i64>,
    pub assigned_by: Option<String>,
}

/// Inserts an account.
pub fn insert(conn: &mut DbConn, row: &UserRow) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// An account by id.
pub fn get(conn: &mut DbConn, id: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .find(id)
        .select(UserRow::as_select())
        .load(conn)
        .map(super::first_row)
}

/// An account by username.
pub fn by_username(conn: &mut DbConn, username: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::username.eq(username))
        .select(UserRow::as_select())
        .load(conn)
        .map(super::first_row)
}

/// Every account, by username.
pub fn list(conn: &mut DbConn) -> QueryResult<Vec<UserRow>> {
    users::table
        .order(users::username.asc())
        .select(UserRow::as_select())
        .load(conn)
}

/// Area ids a user holds now.
pub fn current_area_ids(conn: &mut DbConn, user_id: &str) -> QueryResult<Vec<String>> {
    role_assignments::table
        .filter(role_assignments::user_id.eq(user_id))
        .filter(role_assignments::valid_to_ms.is_null())
        .order(role_assignments::valid_from_ms.asc())
        .select(role_assignments::area_id)
        .load(conn)
}

/// (user id, area id) for every current assignment, for listings.
pub fn all_current_areas(conn: &mut DbConn) -> QueryResult<Vec<(String, String)>> {
    role_assignments::table
        .filter(role_assignments::valid_to_ms.is_null())
        .order(role_assignments::valid_from_ms.asc())
        .select((role_assignments::user_id, role_assignments::area_id))
        .load(conn)
}

/// Every assignment of a user, current and past.
pub fn assignment_history(conn: &mut DbConn, user_id: &str) -> QueryResult<Vec<AssignmentRow>> {
    role_assignments::table
        .filter(role_assignments::user_id.eq(user_id))
        .order(role_assignments::valid_from_ms.asc())
        .select(AssignmentRow::as_select())
        .load(conn)
}

/// Makes `areas` the user's current areas at `now`: closes assignments to areas not in the
/// list and opens new ones; areas kept stay on their original row. Returns (opened, closed).
pub fn set_areas(
    conn: &mut DbConn,
    user_id: &str,
    role: &str,
    areas: &[String],
    assigned_by: Option<&str>,
    now: i64,
) -> QueryResult<(Vec<String>, Vec<String>)> {
    let current = current_area_ids(conn, user_id)?;
    let closed: Vec<String> = current
        .iter()
        .filter(|a| !areas.contains(a))
        .cloned()
        .collect();
    let opened: Vec<String> = areas
        .iter()
        .filter(|a| !current.contains(a))
        .cloned()
        .collect();
    if !closed.is_empty() {
        diesel::update(
            role_assignments::table
                .filter(role_assignments::user_id.eq(user_id))
                .filter(role_assignments::valid_to_ms.is_null())
                .filter(role_assignments::area_id.eq_any(&closed)),
        )
        .set(role_assignments::valid_to_ms.eq(Some(now)))
        .execute(conn)?;
    }
    let rows: Vec<AssignmentRow> = opened
        .iter()
        .map(|area_id| AssignmentRow {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: user_id.to_owned(),
            role: role.to_owned(),
            area_id: area_id.clone(),
            valid_from_ms: now,
            valid_to_ms: None,
            assigned_by: assigned_by.map(str::to_owned),
        })
        .collect();
    for row in &rows {
        diesel::insert_into(role_assignments::table)
            .values(row)
            .execute(conn)?;
    }
    Ok((opened, closed))
}
