//! Import jobs: state, progress, error report and result of each import.

use diesel::prelude::*;

use super::DbConn;
use super::schema::import_jobs;

/// One import job as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = import_jobs)]
pub struct JobRow {
    pub id: String,
    /// `households`, `boundaries` or `users`.
    pub kind: String,
    /// `csv`, `xlsx` or `geojson`.
    pub format: String,
    /// `running`, `done`, `rejected` or `failed`.
    pub state: String,
    pub dry_run: bool,
    /// The admin who started it.
    pub user_id: String,
    pub processed: i64,
    pub total: i64,
    /// JSON array of row errors.
    pub errors: String,
    /// JSON object: counts and details of what was written.
    pub result: String,
    /// Encrypted JSON of generated passwords, erased once delivered.
    pub secrets: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Inserts a new job.
pub fn insert(conn: &mut DbConn, row: &JobRow) -> QueryResult<()> {
    diesel::insert_into(import_jobs::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// A job by id.
pub fn get(conn: &mut DbConn, id: &str) -> QueryResult<Option<JobRow>> {
    import_jobs::table
        .find(id)
        .select(JobRow::as_select())
        .load(conn)
        .map(super::first_row)
}

/// Stores a job's final state.
#[allow(clippy::too_many_arguments)]
pub fn finish(
    conn: &mut DbConn,
    id: &str,
    state: &str,
    processed: i64,
    total: i64,
    errors: &str,
    result: &str,
    secrets: Option<&str>,
    now: i64,
) -> QueryResult<()> {
    diesel::update(import_jobs::table.find(id))
        .set((
            import_jobs::state.eq(state),
            import_jobs::processed.eq(processed),
            import_jobs::total.eq(total),
            import_jobs::errors.eq(errors),
            import_jobs::result.eq(result),
            import_jobs::secrets.eq(secrets),
            import_jobs::updated_at_ms.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Takes a job's secrets: returns them and erases them in the same statement sequence, so
/// generated passwords are handed out once. Runs in the caller's write transaction.
pub fn take_secrets(conn: &mut DbConn, id: &str) -> QueryResult<Option<String>> {
    let secrets: Option<String> = import_jobs::table
        .find(id)
        .select(import_jobs::secrets)
        .load::<Option<String>>(conn)
        .map(super::first_row)?
        .flatten();
    if secrets.is_some() {
        diesel::update(import_jobs::table.find(id))
            .set(import_jobs::secrets.eq(None::<String>))
            .execute(conn)?;
    }
    Ok(secrets)
}
