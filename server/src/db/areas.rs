//! The area tree.

use diesel::prelude::*;

use super::DbConn;
use super::schema::{areas, scope_seqs};

/// One area as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = areas)]
pub struct AreaRow {
    pub id: String,
    pub name: String,
    pub level: String,
    pub parent_id: Option<String>,
    pub boundary: Option<String>,
    pub qr_link: Option<String>,
    pub wechat_group: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Inserts one area with its sync sequence (every area is a sync scope).
pub fn insert(conn: &mut DbConn, row: &AreaRow) -> QueryResult<()> {
    diesel::insert_into(areas::table)
        .values(row)
        .execute(conn)?;
    diesel::insert_into(scope_seqs::table)
        .values((scope_seqs::scope.eq(&row.id), scope_seqs::seq.eq(0i64)))
        .execute(conn)
        .map(|_| ())
}

/// Stores an area's changed name, boundary, QR link and group name.
pub fn update(conn: &mut DbConn, row: &AreaRow) -> QueryResult<()> {
    diesel::update(areas::table.find(&row.id))
        .set((
            areas::name.eq(&row.name),
            areas::boundary.eq(&row.boundary),
            areas::qr_link.eq(&row.qr_link),
            areas::wechat_group.eq(&row.wechat_group),
            areas::updated_at_ms.eq(row.updated_at_ms),
        ))
        .execute(conn)
        .map(|_| ())
}

/// (id, parent id) of every area, for scope expansion.
pub fn tree(conn: &mut DbConn) -> QueryResult<Vec<(String, Option<String>)>> {
    areas::table
        .select((areas::id, areas::parent_id))
        .load(conn)
}

/// One area by id.
pub fn get(conn: &mut DbConn, id: &str) -> QueryResult<Option<AreaRow>> {
    areas::table
        .find(id)
        .select(AreaRow::as_select())
        .load(conn)
        .map(super::first_row)
}

/// Every area, parents before children within a level order (township, village, grid).
pub fn list(conn: &mut DbConn) -> QueryResult<Vec<AreaRow>> {
    let mut rows: Vec<AreaRow> = areas::table.select(AreaRow::as_select()).load(conn)?;
    rows.sort_by(|a, b| {
        level_rank(&a.level)
            .cmp(&level_rank(&b.level))
            .then_with(|| a.name.cmp(&b.name))
    });
    Ok(rows)
}

/// The areas with these ids (unknown ids are left out).
pub fn by_ids(conn: &mut DbConn, ids: &[String]) -> QueryResult<Vec<AreaRow>> {
    areas::table
        .filter(areas::id.eq_any(ids))
        .select(AreaRow::as_select())
        .load(conn)
}

fn level_rank(level: &str) -> u8 {
    match level {
        "township" => 0,
        "village" => 1,
        _ => 2,
    }
}

/// Replaces a grid's name and boundary (a boundary import of an existing grid).
pub fn set_boundary(
    conn: &mut DbConn,
    id: &str,
    name: &str,
    boundary: &str,
    now: i64,
) -> QueryResult<()> {
    diesel::update(areas::table.find(id))
        .set((
            areas::name.eq(name),
            areas::boundary.eq(Some(boundary)),
            areas::updated_at_ms.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
}
