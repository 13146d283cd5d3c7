//! `spawn_app()`: a real server on port 0 over a fresh database — a SQLite file in a temp dir
//! by default, or a new PostgreSQL database when `TEST_DATABASE_URL` is set (dropped after).

use fangzha::config::Settings;
use fangzha::db;
use fangzha::services::accounts::{self, NewUser};
use fangzha::startup::Application;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::test_db::TestDb;

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
    let test_db = TestDb::from_env(data_dir.path(), "test");
    let database_url = test_db.url.clone();
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
