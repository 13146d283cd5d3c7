//! `spawn_app()`: a real server on port 0 over a fresh database — a SQLite file in a temp dir
//! by default, or a new PostgreSQL database when `TEST_DATABASE_URL` is set (dropped after).

use diesel::{Connection, RunQueryDsl, pg::PgConnection};
use fangzha::config::Settings;
use fangzha::db;
use fangzha::services::accounts::{self, NewUser};
use fangzha::startup::Application;
use serde_json::{Value, json};
use tempfile::TempDir;

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// HTTP client (no cookies, no redirects needed).
    pub client: reqwest::Client,
    /// The database URL the server uses.
    pub database_url: String,
    /// The server's data directory (secrets live here).
    pub data_dir: TempDir,
    /// A pool on the same database, for setting up fixtures directly.
    pub pool: db::Pool,
    _db: TestDb,
}

/// A fresh PostgreSQL database, dropped when the test ends.
pub(crate) struct TestDb {
    postgres: Option<(String, String)>,
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

/// A new empty database: `test.db` in `data_dir`, or a new PostgreSQL database with
/// `TEST_DATABASE_URL` (dropped with the returned guard).
pub(crate) fn fresh_database(data_dir: &TempDir) -> (String, TestDb) {
    match std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        None => (
            format!("sqlite://{}", data_dir.path().join("test.db").display()),
            TestDb { postgres: None },
        ),
        Some(admin_url) => {
            let name = format!("fangzha_test_{}", uuid::Uuid::new_v4().simple());
            let mut conn = PgConnection::establish(&admin_url)
                .unwrap_or_else(|e| panic!("TEST_DATABASE_URL unreachable: {e}"));
            diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
                .execute(&mut conn)
                .expect("create test database");
            (
                with_database(&admin_url, &name),
                TestDb {
                    postgres: Some((admin_url, name)),
                },
            )
        }
    }
}

/// Replaces the database name (the last path segment) of a PostgreSQL URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

/// Starts a server with default settings on a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server after `tweak` adjusts the settings.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        fangzha::telemetry::init(fangzha::config::LogFormat::Plain, "debug");
    }
    let data_dir = tempfile::tempdir().expect("temp dir");
    let (database_url, test_db) = fresh_database(&data_dir);
    let mut settings = Settings {
        bind: "127.0.0.1:0".into(),
        database_url: Some(database_url.clone()),
        data_dir: data_dir.path().to_path_buf(),
        db_pool_size: 4,
        ..Settings::default()
    };
    tweak(&mut settings);
    let app = Application::build(settings).await.expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let pool = db::connect(&database_url, 2).expect("test pool");
    TestApp {
        address,
        client: reqwest::Client::new(),
        database_url,
        data_dir,
        pool,
        _db: test_db,
    }
}

impl TestApp {
    /// Full URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// POST JSON, optionally with a bearer token.
    pub async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> reqwest::Response {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request")
    }

    /// PUT JSON with a bearer token.
    pub async fn put(&self, path: &str, body: &Value, token: &str) -> reqwest::Response {
        self.client
            .put(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// GET, optionally with a bearer token.
    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request")
    }

    /// GET and parse the JSON body, whatever the status.
    pub async fn get_json(&self, path: &str, token: Option<&str>) -> Value {
        self.get(path, token).await.json().await.expect("JSON body")
    }

    /// Creates an account straight through the service layer.
    pub async fn add_user(
        &self,
        username: &str,
        password: &str,
        role: &str,
        areas: &[&str],
    ) -> String {
        let (user, _) = accounts::create(
            &self.pool,
            NewUser {
                username: username.into(),
                password: password.into(),
                name: None,
                role: role.into(),
                areas: areas.iter().map(|a| a.to_string()).collect(),
            },
            None,
        )
        .await
        .expect("create user");
        user.id
    }

    /// Logs in and returns the whole response body; panics unless 200.
    pub async fn login(&self, username: &str, password: &str) -> Value {
        let resp = self
            .post(
                "/api/auth/login",
                &json!({"username": username, "password": password, "device_name": "test"}),
                None,
            )
            .await;
        assert_eq!(resp.status(), 200, "login of {username} failed");
        resp.json().await.expect("login json")
    }

    /// An admin's access token (creates the admin on first call per name).
    pub async fn admin_token(&self) -> String {
        self.add_user("admin", "admin-password-1", "admin", &[])
            .await;
        self.login("admin", "admin-password-1").await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Creates one more grid in a village via the admin API; returns its id.
    pub async fn add_grid(&self, admin: &str, village: &str, name: &str) -> String {
        let resp = self
            .post(
                "/api/admin/areas",
                &json!({"name": name, "level": "grid", "parent_id": village}),
                Some(admin),
            )
            .await;
        assert_eq!(resp.status(), 201);
        let body: Value = resp.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    /// Creates a township, a village and a grid via the admin API; returns their ids.
    pub async fn area_tree(&self, admin: &str) -> (String, String, String) {
        let mut ids = Vec::new();
        let mut parent: Option<String> = None;
        for (name, level) in [
            ("清溪镇", "township"),
            ("东山村", "village"),
            ("第一网格", "grid"),
        ] {
            let resp = self
                .post(
                    "/api/admin/areas",
                    &json!({"name": name, "level": level, "parent_id": parent}),
                    Some(admin),
                )
                .await;
            assert_eq!(resp.status(), 201);
            let body: Value = resp.json().await.unwrap();
            let id = body["id"].as_str().unwrap().to_owned();
            parent = Some(id.clone());
            ids.push(id);
        }
        (ids[0].clone(), ids[1].clone(), ids[2].clone())
    }
}

/// Asserts a JSON error response: status, machine code, and a non-empty message.
pub async fn assert_error(resp: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status, "status");
    let body: Value = resp.json().await.expect("JSON error body");
    assert_eq!(body["error"], code, "error code in {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message in {body}"
    );
    body
}
