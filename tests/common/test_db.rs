//! A fresh database for one test or benchmark run: a SQLite file, or a new PostgreSQL
//! database made through an admin URL and dropped with the guard. The test and bench targets
//! include this file with `#[path]`, so there is one way to make one.

// Each target uses only part of it.
#![allow(dead_code)]

use std::path::Path;

use diesel::{Connection, RunQueryDsl, pg::PgConnection};
use tempfile::TempDir;

/// The PostgreSQL admin URL when the run targets PostgreSQL (`TEST_DATABASE_URL`).
pub fn postgres_admin_url() -> Option<String> {
    first_url(&["TEST_DATABASE_URL"])
}

/// The PostgreSQL admin URL of a benchmark: `BENCH_DATABASE_URL`, else `TEST_DATABASE_URL`.
pub fn bench_admin_url() -> Option<String> {
    first_url(&["BENCH_DATABASE_URL", "TEST_DATABASE_URL"])
}

/// The first of these variables that is set and not blank.
fn first_url(vars: &[&str]) -> Option<String> {
    vars.iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|u| !u.trim().is_empty())
}

/// A new, empty (not yet migrated) database; a PostgreSQL one is dropped on drop.
pub struct TestDb {
    /// The URL the server and the checks use.
    pub url: String,
    /// (admin URL, database name) of a PostgreSQL database to drop.
    postgres: Option<(String, String)>,
    /// A directory of the guard's own holding the SQLite file, removed on drop.
    _dir: Option<TempDir>,
}

impl TestDb {
    /// On the backend `TEST_DATABASE_URL` chooses: `{label}.db` in `dir`, or a new
    /// PostgreSQL database named after `label`.
    pub fn from_env(dir: &Path, label: &str) -> TestDb {
        match postgres_admin_url() {
            None => TestDb::sqlite(dir, label),
            Some(admin) => TestDb::postgres(&admin, label).unwrap_or_else(|e| panic!("{e}")),
        }
    }

    /// Like [`TestDb::from_env`], with the SQLite file in a temp dir the guard owns.
    pub fn fresh(label: &str) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut db = TestDb::from_env(dir.path(), label);
        db._dir = Some(dir);
        db
    }

    /// `{label}.db` in `dir` (created by the first connection).
    pub fn sqlite(dir: &Path, label: &str) -> TestDb {
        TestDb {
            url: format!("sqlite://{}", dir.join(format!("{label}.db")).display()),
            postgres: None,
            _dir: None,
        }
    }

    /// A new database `fangzha_{label}_{uuid}` on the server of `admin_url`.
    pub fn postgres(admin_url: &str, label: &str) -> Result<TestDb, String> {
        let name = format!("fangzha_{label}_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::establish(admin_url)
            .map_err(|e| format!("PostgreSQL admin URL unreachable: {e}"))?;
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .map_err(|e| format!("CREATE DATABASE {name}: {e}"))?;
        Ok(TestDb {
            url: with_database(admin_url, &name),
            postgres: Some((admin_url.to_owned(), name)),
            _dir: None,
        })
    }

    /// `sqlite` or `postgres`, for reports.
    pub fn backend(&self) -> &'static str {
        if self.postgres.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.postgres
            && let Ok(mut conn) = PgConnection::establish(admin_url)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
}

/// Replaces the database name (the last path segment) of a PostgreSQL URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}
