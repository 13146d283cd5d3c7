//! The campaign's configuration versions, fraud cases and model villages.

use diesel::prelude::*;
use serde::Serialize;

use super::DbConn;
use super::schema::{campaign_versions, fraud_cases, model_villages};

/// One stored configuration version.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = campaign_versions)]
pub struct VersionRow {
    pub version: i64,
    /// The configuration as JSON.
    pub config: String,
    pub created_by: String,
    pub created_at_ms: i64,
}

/// The configuration in force (the newest version), if an admin ever saved one.
pub fn current(conn: &mut DbConn) -> QueryResult<Option<VersionRow>> {
    campaign_versions::table
        .order(campaign_versions::version.desc())
        .limit(1)
        .select(VersionRow::as_select())
        .load(conn)
        .map(super::first_row)
}

/// Every version, newest first.
pub fn versions(conn: &mut DbConn) -> QueryResult<Vec<VersionRow>> {
    campaign_versions::table
        .order(campaign_versions::version.desc())
        .select(VersionRow::as_select())
        .load(conn)
}

/// Stores a new version numbered after the newest one. Call inside a write transaction.
pub fn add_version(
    conn: &mut DbConn,
    config: &str,
    created_by: &str,
    now_ms: i64,
) -> QueryResult<VersionRow> {
    let version = current(conn)?.map_or(1, |v| v.version + 1);
    let row = VersionRow {
        version,
        config: config.to_owned(),
        created_by: created_by.to_owned(),
        created_at_ms: now_ms,
    };
    diesel::insert_into(campaign_versions::table)
        .values(&row)
        .execute(conn)?;
    Ok(row)
}

/// A fraud case report as entered.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = fraud_cases)]
pub struct NewCase {
    pub village_id: String,
    pub period: String,
    pub cases: i64,
    pub victims: i64,
    pub suspects: i64,
    pub loss_yuan: i64,
    pub notes: Option<String>,
    pub created_by: String,
    pub created_at_ms: i64,
}

/// A stored fraud case report.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = fraud_cases)]
pub struct CaseRow {
    pub id: i64,
    pub village_id: String,
    /// `YYYY-MM`.
    pub period: String,
    /// Cases reported (telecom fraud against residents).
    pub cases: i64,
    /// Residents defrauded.
    pub victims: i64,
    /// Residents among the suspects.
    pub suspects: i64,
    /// Loss in yuan.
    pub loss_yuan: i64,
    pub notes: Option<String>,
    pub created_by: String,
    pub created_at_ms: i64,
}

/// Stores a case report and returns it.
pub fn add_case(conn: &mut DbConn, case: &NewCase) -> QueryResult<CaseRow> {
    diesel::insert_into(fraud_cases::table)
        .values(case)
        .execute(conn)?;
    fraud_cases::table
        .filter(fraud_cases::village_id.eq(&case.village_id))
        .order(fraud_cases::id.desc())
        .limit(1)
        .select(CaseRow::as_select())
        .first(conn)
}

/// Case reports, oldest first; of one village when given. (A township has tens of reports
/// a year, so filtering after loading costs nothing.)
pub fn cases(conn: &mut DbConn, village_id: Option<&str>) -> QueryResult<Vec<CaseRow>> {
    let rows: Vec<CaseRow> = fraud_cases::table
        .order((fraud_cases::period.asc(), fraud_cases::id.asc()))
        .select(CaseRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(|r| village_id.is_none_or(|v| r.village_id == v))
        .collect())
}

/// Names a village a candidate model village (again: no change).
pub fn name_model(conn: &mut DbConn, village_id: &str, by: &str, now_ms: i64) -> QueryResult<()> {
    if model_ids(conn)?.iter().any(|v| v == village_id) {
        return Ok(());
    }
    diesel::insert_into(model_villages::table)
        .values((
            model_villages::village_id.eq(village_id),
            model_villages::named_by.eq(by),
            model_villages::named_at_ms.eq(now_ms),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Withdraws a village's candidacy.
pub fn unname_model(conn: &mut DbConn, village_id: &str) -> QueryResult<()> {
    diesel::delete(model_villages::table.find(village_id))
        .execute(conn)
        .map(|_| ())
}

/// The candidate model villages' ids.
pub fn model_ids(conn: &mut DbConn) -> QueryResult<Vec<String>> {
    model_villages::table
        .select(model_villages::village_id)
        .order(model_villages::village_id.asc())
        .load(conn)
}
