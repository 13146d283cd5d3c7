//! The one database access path: a pool of [`DbConn`] over SQLite or PostgreSQL, chosen by
//! the URL scheme, with embedded migrations and write transactions that take SQLite's write
//! lock up front.

/// Inserts many rows. Multi-row inserts do not compile through the multi-backend type, so
/// this is the one place that matches on the variant for them. SQLite runs one cached
/// prepared single-row insert per row: building and preparing a 200-row statement (2,600
/// placeholders) cost more than the inserts themselves, and there is no round trip to save.
/// PostgreSQL gets 200 rows per statement (one round trip each).
macro_rules! insert_many {
    ($conn:expr, $table:expr, $rows:expr) => {{
        let mut result: diesel::QueryResult<()> = Ok(());
        match &mut *$conn {
            $crate::db::DbConn::Sqlite(c) => {
                for row in $rows.iter() {
                    if let Err(e) = diesel::insert_into($table).values(row).execute(c) {
                        result = Err(e);
                        break;
                    }
                }
            }
            $crate::db::DbConn::Pg(c) => {
                for chunk in $rows.chunks(200) {
                    if let Err(e) = diesel::insert_into($table).values(chunk).execute(c) {
                        result = Err(e);
                        break;
                    }
                }
            }
        }
        result
    }};
}

pub mod areas;
pub mod audit;
pub mod blobs;
pub mod campaign;
pub mod devices;
pub mod exports;
pub mod imports;
pub mod personal;
pub mod records;
pub mod schema;
pub mod tokens;
pub mod users;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::{ApiError, ApiResult};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to either supported database.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    /// PostgreSQL, for a county deployment.
    Pg(PgConnection),
    /// SQLite, the embedded default.
    Sqlite(SqliteConnection),
}

/// The connection pool shared by handlers, the CLI and tests.
pub type Pool = r2d2::Pool<DbManager>;

/// Which database a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbUrl {
    /// A SQLite file path, taken as written.
    Sqlite(PathBuf),
    /// A libpq connection URL.
    Postgres(String),
}

impl DbUrl {
    /// `sqlite://PATH` (so `sqlite:///abs` is absolute), `postgres://…`, `postgresql://…`,
    /// or a bare file path.
    pub fn parse(url: &str) -> anyhow::Result<DbUrl> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DbUrl::Postgres(url.to_owned()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.is_empty() || path == ":memory:" {
            bail!(
                "database URL needs a file path (an in-memory SQLite is per connection): {url:?}"
            );
        }
        if path.contains("://") {
            bail!("unsupported database URL scheme: {url:?} (use sqlite:// or postgres://)");
        }
        Ok(DbUrl::Sqlite(PathBuf::from(path)))
    }

    /// Whether this is the SQLite backend.
    pub fn is_sqlite(&self) -> bool {
        matches!(self, DbUrl::Sqlite(_))
    }
}

/// r2d2 manager that opens the backend the URL names and sets SQLite's per-connection pragmas.
#[derive(Debug, Clone)]
pub struct DbManager {
    url: DbUrl,
}

impl ManageConnection for DbManager {
    type Connection = DbConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConn, r2d2::Error> {
        match &self.url {
            DbUrl::Postgres(url) => PgConnection::establish(url)
                .map(DbConn::Pg)
                .map_err(r2d2::Error::ConnectionError),
            DbUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())
                    .map_err(r2d2::Error::ConnectionError)?;
                // A 32 MiB page cache per connection (default 2 MiB): a large transaction (a
                // township-wide flag recompute, an import) otherwise spills pages to disk
                // mid-transaction and reads them back (measured: a fifth of a recompute).
                // Statement journals (what a statement inside a transaction keeps to undo
                // itself if it fails midway) in memory: on disk, a profile of the flag
                // recompute showed them written and read back for every large insert.
                conn.batch_execute(&format!(
                    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
                     PRAGMA synchronous = NORMAL; PRAGMA cache_size = -{SQLITE_CACHE_KIB}; \
                     PRAGMA temp_store = MEMORY;"
                ))
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConn::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, _conn: &mut DbConn) -> bool {
        false
    }
}

/// Opens a pool; for SQLite creates the file's directory and switches the file to WAL once.
pub fn connect(url: &str, size: u32) -> anyhow::Result<Pool> {
    let url = DbUrl::parse(url)?;
    if let DbUrl::Sqlite(path) = &url {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating database directory {}", dir.display()))?;
        }
        let mut conn = SqliteConnection::establish(&path.to_string_lossy())
            .with_context(|| format!("opening SQLite database {}", path.display()))?;
        conn.batch_execute("PRAGMA journal_mode = WAL;")
            .context("enabling WAL")?;
    }
    r2d2::Pool::builder()
        .max_size(size.max(1))
        .connection_timeout(Duration::from_secs(10))
        .build(DbManager { url })
        .context("connecting to the database")
}

/// Applies pending migrations of the connection's backend; returns the versions applied.
pub fn migrate(conn: &mut DbConn) -> anyhow::Result<Vec<String>> {
    let applied = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
        DbConn::Pg(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS),
    }
    .map_err(|e| anyhow::anyhow!("running migrations: {e}"))?;
    Ok(applied.iter().map(|v| v.to_string()).collect())
}

/// The newest migration version this binary embeds (as `__diesel_schema_migrations`
/// stores it, e.g. `20261202000006`); both backends carry the same versions.
pub fn latest_migration() -> anyhow::Result<String> {
    use diesel::migration::MigrationSource;
    let migrations = MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE_MIGRATIONS)
        .map_err(|e| anyhow::anyhow!("reading embedded migrations: {e}"))?;
    migrations
        .iter()
        .map(|m| m.name().version().to_string())
        .max()
        .context("no embedded migrations")
}

/// SQLite page cache of a pooled connection, in KiB.
const SQLITE_CACHE_KIB: u32 = 32 * 1024;

/// Runs `f` in a write transaction: `BEGIN IMMEDIATE` on SQLite (so a busy database waits
/// for `busy_timeout` instead of failing at the first write), a plain `BEGIN` on PostgreSQL.
/// Rolls back when `f` fails.
pub fn write_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    type Tm = <DbConn as Connection>::TransactionManager;
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        DbConn::Pg(_) => Tm::begin_transaction(conn)?,
    }
    finish_tx(conn, f)
}

/// Runs `f` inside the transaction just begun: commits on success, rolls back on failure.
fn finish_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    type Tm = <DbConn as Connection>::TransactionManager;
    match f(conn) {
        Ok(value) => {
            Tm::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            // The original error matters more than a failed rollback; the manager marks the
            // connection broken so the pool discards it.
            let _ = Tm::rollback_transaction(conn);
            Err(e)
        }
    }
}

/// Runs `f` in a read transaction that sees one snapshot from its first read to its end:
/// SQLite's deferred `BEGIN` in WAL mode, PostgreSQL's `REPEATABLE READ`. For reads that must
/// agree with each other (a pull page and the checksums it reports). `f` must not write.
pub fn read_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    type Tm = <DbConn as Connection>::TransactionManager;
    Tm::begin_transaction(conn)?;
    if let DbConn::Pg(c) = conn
        && let Err(e) =
            c.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    {
        let _ = Tm::rollback_transaction(conn);
        return Err(e.into());
    }
    finish_tx(conn, f)
}

/// Runs blocking database work on actix's blocking pool, taking the connection there too.
pub async fn run<T, F>(pool: &Pool, f: F) -> ApiResult<T>
where
    F: FnOnce(&mut DbConn) -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    actix_web::web::block(move || {
        let mut conn = pool.get()?;
        f(&mut conn)
    })
    .await?
}

/// Like [`run`], inside one write transaction.
pub async fn run_tx<T, F>(pool: &Pool, f: F) -> ApiResult<T>
where
    F: FnOnce(&mut DbConn) -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    run(pool, move |conn| write_tx(conn, f)).await
}

/// Milliseconds since the Unix epoch, the one time unit stored in the database.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The row of a lookup by a unique key. Lookups load instead of using `.first()`, whose
/// bound `LIMIT ?` makes SQLite recompile the statement on every call (measured: three
/// quarters of a record lookup's time); a unique key needs no limit.
pub fn first_row<T>(rows: Vec<T>) -> Option<T> {
    rows.into_iter().next()
}

/// Whether a failed transaction lost a race it can win when redone: a PostgreSQL deadlock
/// (SQLSTATE 40P01) or serialization failure (40001). Nothing of it was committed, so the
/// caller may run it again.
pub fn is_retryable(e: &ApiError) -> bool {
    let ApiError::Internal(inner) = e else {
        return false;
    };
    match inner.downcast_ref::<diesel::result::Error>() {
        Some(diesel::result::Error::DatabaseError(kind, info)) => {
            matches!(
                kind,
                diesel::result::DatabaseErrorKind::SerializationFailure
            ) || info.message().contains("deadlock detected")
        }
        _ => false,
    }
}

/// Whether a diesel error is a unique-constraint violation (e.g. a duplicate username).
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind, Error};

    #[test]
    fn deadlocks_and_serialization_failures_are_retryable_others_not() {
        let db =
            |kind, msg: &str| ApiError::from(Error::DatabaseError(kind, Box::new(msg.to_owned())));
        assert!(is_retryable(&db(
            DatabaseErrorKind::Unknown,
            "deadlock detected"
        )));
        assert!(is_retryable(&db(
            DatabaseErrorKind::SerializationFailure,
            "could not serialize access"
        )));
        assert!(!is_retryable(&db(
            DatabaseErrorKind::UniqueViolation,
            "duplicate key"
        )));
        assert!(!is_retryable(&ApiError::not_found("x")));
    }
}
