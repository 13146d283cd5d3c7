//! The bad-input battery: malformed and mistyped JSON, huge strings and arrays, deep nesting,
//! invalid UTF-8, oversized bodies, path tricks, query junk and slow clients, over every
//! endpoint that takes input. Every bad request gets a 4xx JSON error (`error` code and a
//! Chinese `message`), never a 500 or a dropped connection, and changes nothing.
//! SQL-like and script-like text is data: stored and returned verbatim.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::Engine;
use diesel::QueryableByName;
use diesel::RunQueryDsl;
use diesel::sql_types::BigInt;
use fangzha::db::DbConn;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};
use crate::sync::{Device, ID, new_id};

/// Small limits keep the oversized cases cheap.
const MAX_BODY: usize = 256 * 1024;

async fn battery_app() -> TestApp {
    spawn_app_with(|s| {
        s.max_body_bytes = MAX_BODY;
        s.import_max_bytes = MAX_BODY;
        s.photos.max_bytes = MAX_BODY as u64;
    })
    .await
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Row counts of every table a request could write.
fn fingerprint(app: &TestApp) -> Vec<(&'static str, i64)> {
    let tables = [
        "access_log",
        "areas",
        "audit_log",
        "blob_refs",
        "blobs",
        "campaign_versions",
        "devices",
        "fraud_cases",
        "id_index",
        "import_jobs",
        "model_villages",
        "record_history",
        "records",
        "refresh_tokens",
        "rejected_mutations",
        "role_assignments",
        "users",
    ];
    let mut conn = app.pool.get().unwrap();
    tables
        .into_iter()
        .map(|t| {
            // A failed login is written to the audit log by design; the battery's login
            // sample carries a wrong password, so those rows are not a change.
            let filter = if t == "audit_log" {
                " WHERE action <> 'login_failed'"
            } else {
                ""
            };
            let sql = format!("SELECT COUNT(*) AS n FROM {t}{filter}");
            let rows: Vec<Count> = match &mut *conn {
                DbConn::Sqlite(c) => diesel::sql_query(sql).load(c),
                DbConn::Pg(c) => diesel::sql_query(sql).load(c),
            }
            .unwrap();
            (t, rows[0].n)
        })
        .collect()
}

/// Is `body` a JSON error with a machine code and a Chinese message? Why not, if not.
fn error_problem(body: &[u8]) -> Option<String> {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Some(format!(
            "not a JSON body: {:?}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ));
    };
    let code_ok = v["error"]
        .as_str()
        .is_some_and(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
    let message_ok = v["message"]
        .as_str()
        .is_some_and(|m| m.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)));
    (!code_ok || !message_ok).then(|| format!("no code or Chinese message: {v}"))
}

/// Checks a refused request: 4xx (one of `allowed` when given) with a JSON error.
fn refused(label: &str, status: u16, body: &[u8], allowed: &[u16]) -> Option<String> {
    let status_ok = if allowed.is_empty() {
        (400..500).contains(&status)
    } else {
        allowed.contains(&status)
    };
    if !status_ok {
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        return Some(format!("{label}: status {status} {text}"));
    }
    if status < 400 {
        return None;
    }
    error_problem(body).map(|why| format!("{label}: {status} {why}"))
}

/// An endpoint taking a JSON body, with a valid sample of it.
struct JsonEndpoint {
    method: reqwest::Method,
    path: String,
    sample: Value,
    token: Option<String>,
}

/// Sends raw bytes as a JSON body.
async fn send_bytes(
    app: &TestApp,
    e: &JsonEndpoint,
    body: Vec<u8>,
    content_type: &str,
) -> (u16, Vec<u8>) {
    let mut req = app
        .client
        .request(e.method.clone(), app.url(&e.path))
        .header("Content-Type", content_type)
        .body(body);
    if let Some(t) = &e.token {
        req = req.bearer_auth(t);
    }
    let resp = req
        .send()
        .await
        .expect("the server answers (no dropped connection)");
    let status = resp.status().as_u16();
    (status, resp.bytes().await.unwrap().to_vec())
}

/// Values of another JSON type than `v` (never null: null may mean "leave out").
fn other_types(v: &Value) -> Vec<Value> {
    let all = [
        json!(12345),
        json!(true),
        json!(["x"]),
        json!({"a": 1}),
        json!("文字"),
    ];
    let same = |a: &Value| {
        std::mem::discriminant(a) == std::mem::discriminant(v) || (a.is_number() && v.is_number())
    };
    all.into_iter().filter(|a| !same(a)).collect()
}

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// A fixture with one record of each kind a body can name, and a valid sample body for
/// every JSON endpoint.
struct World {
    admin: String,
    grid_token: String,
    village: String,
    grid: String,
    household: String,
    endpoints: Vec<JsonEndpoint>,
}

async fn world(app: &TestApp) -> World {
    let admin = app.admin_token().await;
    let (_, village, grid) = app.area_tree(&admin).await;
    let grid_user = app
        .add_user("wangli", "grid-password-1", "grid_worker", &[&grid])
        .await;
    let mut dev = Device::new(app, "wangli", "grid-password-1").await;
    let household = new_id();
    let tenant = new_id();
    let rental = new_id();
    let m = vec![
        dev.put(
            "household",
            &household,
            &grid,
            json!({"address": "幸福路 1 号"}),
        ),
        dev.put("rental", &rental, &grid, json!({"address": "幸福路 2 号"})),
        dev.put(
            "tenant",
            &tenant,
            &grid,
            json!({"rental_id": rental, "name": "王五", "id_number": ID}),
        ),
    ];
    dev.pushed(app, m).await;
    let admin_dev = Device::new(app, "admin", "admin-password-1").await;
    let page = admin_dev.pull(app, json!({})).await;
    let flag = crate::sync::flags(&page)[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let campaign = app.get_json("/api/campaign", Some(&admin)).await["config"].clone();
    let client = uuid::Uuid::now_v7().to_string();
    let hlc = format!("{:015}-00000-{client}", fangzha::db::now_ms() - 1000);
    let e = |method: reqwest::Method, path: String, sample: Value, token: Option<&String>| {
        JsonEndpoint {
            method,
            path,
            sample,
            token: token.cloned(),
        }
    };
    use reqwest::Method as M;
    let endpoints = vec![
        e(
            M::POST,
            "/api/auth/login".into(),
            json!({"username": "wangli", "password": "wrong-password", "device_name": "手机"}),
            None,
        ),
        e(
            M::POST,
            "/api/auth/refresh".into(),
            json!({"refresh_token": "x"}),
            None,
        ),
        e(
            M::POST,
            "/api/auth/logout".into(),
            json!({"refresh_token": "x"}),
            None,
        ),
        e(
            M::POST,
            "/api/sync/push".into(),
            json!({"client_id": client, "schema": 1, "mutations": [{"mid": 1, "hlc": hlc,
                "entity": "household", "id": new_id(), "scope": grid, "op": "put",
                "fields": {"address": "x"}}]}),
            Some(&admin),
        ),
        e(
            M::POST,
            "/api/sync/pull".into(),
            json!({"client_id": client, "schema": 1, "cursors": {}, "limit": 10}),
            Some(&admin),
        ),
        e(
            M::POST,
            format!("/api/flags/{flag}/review"),
            json!({"state": "in_review", "review_note": "核查"}),
            Some(&admin),
        ),
        e(
            M::POST,
            format!("/api/records/tenant/{tenant}/reveal"),
            json!({"purpose": "核查身份"}),
            Some(&admin),
        ),
        e(
            M::POST,
            "/api/blobs/missing".into(),
            json!({"hashes": ["ab".repeat(32)]}),
            Some(&admin),
        ),
        e(
            M::POST,
            "/api/admin/areas".into(),
            json!({"name": "新网格", "level": "grid", "parent_id": village}),
            Some(&admin),
        ),
        e(
            M::PATCH,
            format!("/api/admin/areas/{grid}"),
            json!({"name": "第一网格", "wechat_group": "群", "qr_link": "https://x.cn/a"}),
            Some(&admin),
        ),
        e(
            M::POST,
            "/api/admin/users".into(),
            json!({"username": "newuser", "password": "new-password-1", "name": "新人",
                   "role": "grid_worker", "areas": [grid]}),
            Some(&admin),
        ),
        e(
            M::PUT,
            format!("/api/admin/users/{grid_user}/areas"),
            json!({"areas": [grid]}),
            Some(&admin),
        ),
        e(M::PUT, "/api/admin/campaign".into(), campaign, Some(&admin)),
        e(
            M::POST,
            "/api/cases".into(),
            json!({"village_id": village, "period": "2021-05", "cases": 1, "victims": 1,
                   "suspects": 0, "loss_yuan": 100, "notes": "备注"}),
            Some(&admin),
        ),
    ];
    World {
        admin,
        grid_token: dev.token,
        village,
        grid,
        household,
        endpoints,
    }
}

/// The bad bodies for one endpoint: (label, bytes, content type, allowed statuses).
fn bad_bodies(e: &JsonEndpoint) -> Vec<(String, Vec<u8>, &'static str, Vec<u16>)> {
    const JSON: &str = "application/json";
    let mut out: Vec<(String, Vec<u8>, &'static str, Vec<u16>)> = vec![
        ("truncated".into(), b"{\"a\":".to_vec(), JSON, vec![400]),
        ("not JSON".into(), b"hello".to_vec(), JSON, vec![400]),
        ("empty".into(), Vec::new(), JSON, vec![400]),
        ("array".into(), b"[1, 2]".to_vec(), JSON, vec![400]),
        ("null".into(), b"null".to_vec(), JSON, vec![400]),
        ("number".into(), b"42".to_vec(), JSON, vec![400]),
        (
            "10,000 nested arrays".into(),
            nested(10_000).into_bytes(),
            JSON,
            vec![400],
        ),
        (
            "invalid UTF-8".into(),
            b"{\"name\": \"\xff\xfe\xfd\"}".to_vec(),
            JSON,
            vec![400],
        ),
        (
            "not declared JSON".into(),
            e.sample.to_string().into_bytes(),
            "text/plain",
            vec![415],
        ),
        (
            "oversized".into(),
            format!("{{\"x\": \"{}\"}}", "a".repeat(MAX_BODY + 10)).into_bytes(),
            JSON,
            vec![413],
        ),
    ];
    let Some(fields) = e.sample.as_object() else {
        return out;
    };
    for (key, value) in fields {
        let mut with = |label: String, v: Value, allowed: Vec<u16>| {
            let mut body = e.sample.clone();
            body[key.as_str()] = v;
            out.push((label, body.to_string().into_bytes(), JSON, allowed));
        };
        for wrong in other_types(value) {
            with(format!("{key} = {wrong}"), wrong, vec![]);
        }
        // Deep, but within the parser's limit: the handler must refuse the shape.
        let deep: Value = serde_json::from_str(&nested(100)).unwrap();
        with(format!("{key} = 100 nested arrays"), deep, vec![]);
        if value.is_string() {
            // Logging out an unknown token is a no-op answered 204, whatever its length.
            let allowed = if e.path == "/api/auth/logout" {
                vec![204]
            } else {
                vec![]
            };
            // PostgreSQL text cannot hold NUL: it must be refused, not fail in the database.
            let allowed_nul = if e.path == "/api/auth/logout" {
                vec![204]
            } else {
                vec![]
            };
            with(format!("{key} with NUL"), json!("a\u{0}b"), allowed_nul);
            with(
                format!("{key} = 100,000 bytes"),
                json!("长".repeat(30_000) + &"a".repeat(10_000)),
                allowed,
            );
        }
        if value.is_array() {
            with(
                format!("{key} = 20,000 items"),
                json!(vec!["x"; 20_000]),
                vec![],
            );
        }
    }
    out
}

#[tokio::test]
async fn bad_bodies_get_json_4xx_and_change_nothing() {
    let app = battery_app().await;
    let w = world(&app).await;
    let before = fingerprint(&app);
    let mut problems = Vec::new();
    let mut sent = 0;
    for e in &w.endpoints {
        for (label, body, content_type, allowed) in bad_bodies(e) {
            sent += 1;
            let (status, resp) = send_bytes(&app, e, body, content_type).await;
            let label = format!("{} {} with {label}", e.method, e.path);
            problems.extend(refused(&label, status, &resp, &allowed));
        }
        // The same oversized body without a Content-Length (chunked) is refused too.
        let mut body = format!("{:x}\r\n", MAX_BODY + 1024).into_bytes();
        body.extend(std::iter::repeat_n(b' ', MAX_BODY + 1024));
        body.extend_from_slice(b"\r\n0\r\n\r\n");
        let auth = e
            .token
            .as_ref()
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "{} {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
            e.method, e.path
        );
        let address = app.address.clone();
        let (status, resp) = tokio::task::spawn_blocking(move || raw(&address, &head, &body))
            .await
            .unwrap();
        let label = format!("{} {} chunked oversized", e.method, e.path);
        problems.extend(refused(&label, status, &resp, &[413]));
        sent += 1;
    }
    assert!(
        problems.is_empty(),
        "{} of {sent} bad requests were not refused as they should be:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(
        fingerprint(&app),
        before,
        "a refused request changed something"
    );
    // The server is still whole.
    assert_eq!(app.get("/healthz", None).await.status(), 200);
}

#[tokio::test]
async fn bad_mutations_inside_a_valid_push_are_rejected_one_by_one_and_store_no_record() {
    let app = battery_app().await;
    let w = world(&app).await;
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;
    let records_before = fingerprint(&app)
        .into_iter()
        .find(|(t, _)| *t == "records")
        .unwrap()
        .1;
    let deep: Value = serde_json::from_str(&nested(100)).unwrap();
    let bad_fields = [
        json!({"address": 12345}),
        json!({"address": "长".repeat(2001)}),
        json!({"address": deep}),
        json!({"lat": "north"}),
        json!({"lat": 1e308}),
        json!({"kind": "<script>"}),
        json!({"photos": ["../../jwt_secret"]}),
        json!({"photos": vec!["ab".repeat(32); 2000]}),
        json!({"no_such_field": 1}),
        json!({"leaflet_delivered": "yes"}),
        json!({"notes": "a\u{0}b"}),
    ];
    let mut mutations: Vec<Value> = bad_fields
        .iter()
        .map(|f| dev.put("household", &new_id(), &w.grid, f.clone()))
        .collect();
    for junk in [
        json!({"entity": "household", "op": "put"}),
        json!({"hlc": 12, "entity": [], "id": {}, "scope": null, "op": "explode"}),
        json!({"hlc": "99999999999999999999-x", "entity": "household", "id": "../x", "scope": w.grid, "op": "put"}),
        json!({"hlc": "", "entity": "household", "id": new_id(), "scope": "'; DROP TABLE records;--", "op": "put", "fields": {}}),
    ] {
        dev.mid += 1;
        let mut m = junk;
        m["mid"] = json!(dev.mid);
        mutations.push(m);
    }
    let resp = dev.pushed(&app, mutations).await;
    for (i, r) in resp["results"].as_array().unwrap().iter().enumerate() {
        assert_eq!(r["status"], "rejected", "mutation {i}: {r}");
        let code = r["error"]["code"].as_str().unwrap();
        assert!(!code.is_empty(), "{r}");
    }
    let records_after = fingerprint(&app)
        .into_iter()
        .find(|(t, _)| *t == "records")
        .unwrap()
        .1;
    assert_eq!(
        records_before, records_after,
        "a rejected mutation stored a record"
    );
}

const SQL: &str = "'); DROP TABLE records;--";
const SCRIPT: &str = "<script>alert(1)</script>";

#[tokio::test]
async fn sql_and_script_text_is_stored_and_returned_verbatim() {
    let app = battery_app().await;
    let w = world(&app).await;
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;
    let member = new_id();
    let fields = json!({"address": SQL, "notes": SCRIPT, "head_name": "\"; DELETE FROM users; --"});
    let m = vec![
        dev.put("household", &w.household, &w.grid, fields.clone()),
        dev.put(
            "member",
            &member,
            &w.grid,
            json!({"household_id": w.household, "name": SCRIPT, "relation": SQL}),
        ),
    ];
    let resp = dev.pushed(&app, m).await;
    assert_eq!(
        crate::sync::statuses(&resp),
        ["applied", "applied"],
        "{resp}"
    );
    let fresh = Device::new(&app, "wangli", "grid-password-1").await;
    let page = fresh.pull(&app, json!({})).await;
    let records = crate::sync::records(&page);
    let household = records
        .iter()
        .find(|c| c["id"] == w.household.as_str())
        .unwrap();
    assert_eq!(household["fields"]["address"], SQL);
    assert_eq!(household["fields"]["notes"], SCRIPT);
    assert_eq!(
        household["fields"]["head_name"],
        "\"; DELETE FROM users; --"
    );
    let m = records.iter().find(|c| c["id"] == member.as_str()).unwrap();
    assert_eq!(m["fields"]["name"], SCRIPT);
    assert_eq!(m["fields"]["relation"], SQL);
    let history = app
        .get_json(
            &format!("/api/records/household/{}/history", w.household),
            Some(&w.grid_token),
        )
        .await;
    assert!(
        history["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["value"] == SQL),
        "{history}"
    );
    // Names of areas and accounts, and review notes, too.
    let area = app
        .post(
            "/api/admin/areas",
            &json!({"name": SCRIPT, "level": "grid", "parent_id": w.village}),
            Some(&w.admin),
        )
        .await;
    assert_eq!(area.status(), 201);
    let area: Value = area.json().await.unwrap();
    assert_eq!(area["name"], SCRIPT);
    let user = app
        .post(
            "/api/admin/users",
            &json!({"username": "robert", "password": "bobby-tables-1", "name": SQL,
                    "role": "viewer", "areas": [w.village]}),
            Some(&w.admin),
        )
        .await;
    assert_eq!(user.status(), 201);
    let me = app
        .get_json(
            "/api/me",
            Some(
                app.login("robert", "bobby-tables-1").await["access_token"]
                    .as_str()
                    .unwrap(),
            ),
        )
        .await;
    assert_eq!(me["name"], SQL);
    let csv = app
        .get("/api/exports/households.csv", Some(&w.admin))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        csv.contains(SCRIPT) && csv.contains("DROP TABLE records"),
        "{csv}"
    );
    // Query parameters are data too.
    let q = |s: &str| {
        s.replace('\'', "%27")
            .replace(' ', "%20")
            .replace(';', "%3B")
    };
    let resp = app
        .get(
            &format!("/api/reports/dashboard?area={}", q("' OR '1'='1")),
            Some(&w.admin),
        )
        .await;
    assert_eq!(resp.status(), 404);
    let cases = app
        .get_json(&format!("/api/cases?village={}", q(SQL)), Some(&w.admin))
        .await;
    assert_eq!(cases, json!([]));
    // And the tables are all still there.
    assert_eq!(
        fresh.pull(&app, json!({})).await["changes"]
            .as_array()
            .unwrap()
            .len(),
        page["changes"].as_array().unwrap().len()
    );
}

/// One request over a raw connection (no URL normalisation): (status, body).
fn raw(address: &str, head: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let host = address.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // The server may answer and close before it has read everything (413): keep reading.
    let _ = s
        .write_all(head.as_bytes())
        .and_then(|()| s.write_all(body));
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let at = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(out.len(), |i| i + 4);
    (status, out[at..].to_vec())
}

#[tokio::test]
async fn path_tricks_in_ids_are_refused_without_leaking_files() {
    let app = battery_app().await;
    let w = world(&app).await;
    let secret = std::fs::read_to_string(app.data_dir.path().join("jwt_secret")).unwrap();
    let digest = "ab".repeat(32);
    let ids = [
        "../../jwt_secret".to_owned(),
        "..%2F..%2Fjwt_secret".into(),
        "%2e%2e%2f%2e%2e%2fjwt_secret".into(),
        "%2e%2e".into(),
        "..".into(),
        "a".repeat(63),
        "a".repeat(65),
        "AB".repeat(32),
        format!("{}g", "a".repeat(63)),
        "%00".into(),
        format!("{}%00", "a".repeat(64)),
        "%ff%fe".into(),
        format!("{digest}%2F..%2F..%2Fjwt_secret"),
    ];
    let mut problems = Vec::new();
    let address = app.address.clone();
    let token = w.admin.clone();
    let mut requests = Vec::new();
    for id in &ids {
        for (method, path, extra, body) in [
            ("GET", format!("/api/blobs/{id}"), "", Vec::new()),
            (
                "GET",
                format!("/api/blobs/{id}?variant=thumb"),
                "",
                Vec::new(),
            ),
            (
                "PUT",
                format!("/api/blobs/{id}"),
                "Content-Length: 4\r\n",
                vec![0xFF, 0xD8, 0xFF, 0xE0],
            ),
            (
                "HEAD",
                format!("/api/blobs/tus/{id}"),
                "Tus-Resumable: 1.0.0\r\n",
                Vec::new(),
            ),
            (
                "DELETE",
                format!("/api/blobs/tus/{id}"),
                "Tus-Resumable: 1.0.0\r\n",
                Vec::new(),
            ),
            (
                "PATCH",
                format!("/api/blobs/tus/{id}"),
                "Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 1\r\n",
                vec![0],
            ),
            (
                "GET",
                format!("/api/records/household/{id}/history"),
                "",
                Vec::new(),
            ),
            (
                "GET",
                format!("/api/records/{id}/x/history"),
                "",
                Vec::new(),
            ),
            ("GET", format!("/api/exports/{id}"), "", Vec::new()),
            ("GET", format!("/api/admin/areas/{id}"), "", Vec::new()),
            ("GET", format!("/api/admin/users/{id}"), "", Vec::new()),
            ("GET", format!("/api/admin/imports/{id}"), "", Vec::new()),
            ("GET", format!("/api/areas/{id}/poster.svg"), "", Vec::new()),
        ] {
            requests.push((method, path, extra, body));
        }
    }
    requests.push((
        "GET",
        format!("/api/blobs/{digest}?variant=..%2F..%2Fjwt_secret"),
        "",
        Vec::new(),
    ));
    let results = tokio::task::spawn_blocking(move || {
        requests
            .into_iter()
            .map(|(method, path, extra, body)| {
                let head = format!(
                    "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n{extra}\r\n"
                );
                let (status, resp) = raw(&address, &head, &body);
                (method, path, status, resp)
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for (method, path, status, resp) in results {
        let label = format!("{method} {path}");
        if String::from_utf8_lossy(&resp).contains(secret.trim()) {
            problems.push(format!("{label}: leaked the secret"));
        }
        if method == "HEAD" {
            if !(400..500).contains(&status) {
                problems.push(format!("{label}: status {status}"));
            }
            continue;
        }
        problems.extend(refused(&label, status, &resp, &[400, 404]));
    }
    // Outside /api the app's files are served; a traversal never reaches the data dir.
    for path in [
        "/../../jwt_secret",
        "/%2e%2e/%2e%2e/jwt_secret",
        "/..%2fjwt_secret",
    ] {
        let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let address = app.address.clone();
        let (status, resp) = tokio::task::spawn_blocking(move || raw(&address, &head, &[]))
            .await
            .unwrap();
        if status >= 500 || status == 0 || String::from_utf8_lossy(&resp).contains(secret.trim()) {
            problems.push(format!("GET {path}: {status}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn query_junk_and_oversized_uploads_get_json_4xx() {
    let app = battery_app().await;
    let w = world(&app).await;
    let before = fingerprint(&app);
    let digest = "ab".repeat(32);
    let mut problems = Vec::new();
    for path in [
        "/api/audit?limit=abc".to_owned(),
        "/api/audit?limit=99999999999999999999999".into(),
        "/api/audit?limit=1&limit=2".into(),
        format!("/api/blobs/{digest}?variant=original"),
        format!("/api/blobs/{digest}?variant="),
        format!("/api/blobs/{digest}?variant=thumb&variant=display"),
        "/api/reports/dashboard?area=%ff%fe".into(),
        "/api/reports/dashboard?area=a&area=b".into(),
        "/api/reports/dashboard?area=%00".into(),
        "/api/audit?limit=%00".into(),
        "/api/cases?village=a&village=b".into(),
        "/api/admin/imports/households?dry_run=maybe".into(),
        "/api/admin/imports/households?format=exe".into(),
        "/api/admin/imports/households?bogus=1".into(),
        "/api/admin/imports/passwords".into(),
        "/api/exports/households.exe".into(),
        "/api/exports/secrets.csv".into(),
        "/api/no/such/endpoint?x=%00".into(),
    ] {
        let resp = if path.starts_with("/api/admin/imports/") {
            app.client
                .post(app.url(&path))
                .bearer_auth(&w.admin)
                .header("Content-Type", "text/csv")
                .body("村,网格\n")
                .send()
                .await
                .unwrap()
        } else {
            app.get(&path, Some(&w.admin)).await
        };
        let status = resp.status().as_u16();
        let body = resp.bytes().await.unwrap();
        problems.extend(refused(&path, status, &body, &[]));
    }
    // Oversized and misdeclared uploads: photo, tus, import.
    let big = vec![0xFFu8; MAX_BODY + 1];
    let resp = app
        .client
        .put(app.url(&format!("/api/blobs/{digest}")))
        .bearer_auth(&w.grid_token)
        .body(big.clone())
        .send()
        .await
        .unwrap();
    let (status, body) = (resp.status().as_u16(), resp.bytes().await.unwrap());
    problems.extend(refused("PUT oversized photo", status, &body, &[413]));
    let meta = base64::engine::general_purpose::STANDARD.encode(&digest);
    for (label, length, metadata) in [
        (
            "tus too long",
            (MAX_BODY + 1).to_string(),
            format!("sha256 {meta}"),
        ),
        ("tus length junk", "-1".into(), format!("sha256 {meta}")),
        (
            "tus metadata junk",
            "10".into(),
            "sha256 !!!notbase64".into(),
        ),
        (
            "tus digest junk",
            "10".into(),
            format!(
                "sha256 {}",
                base64::engine::general_purpose::STANDARD.encode("../../x")
            ),
        ),
    ] {
        let resp = app
            .client
            .post(app.url("/api/blobs/tus"))
            .bearer_auth(&w.grid_token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", length)
            .header("Upload-Metadata", metadata)
            .send()
            .await
            .unwrap();
        let (status, body) = (resp.status().as_u16(), resp.bytes().await.unwrap());
        problems.extend(refused(label, status, &body, &[]));
    }
    let resp = app
        .client
        .post(app.url("/api/admin/imports/households"))
        .bearer_auth(&w.admin)
        .header("Content-Type", "text/csv")
        .body(big)
        .send()
        .await
        .unwrap();
    let (status, body) = (resp.status().as_u16(), resp.bytes().await.unwrap());
    problems.extend(refused("oversized import", status, &body, &[413]));
    // Broken bearer tokens.
    for auth in [
        "Bearer".to_owned(),
        "Bearer not.a.jwt".into(),
        format!("Bearer {}", "a".repeat(6000)),
        "Basic YWRtaW46YWRtaW4=".into(),
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.".into(),
    ] {
        let resp = app
            .client
            .get(app.url("/api/me"))
            .header("Authorization", auth.clone())
            .send()
            .await
            .unwrap();
        let (status, body) = (resp.status().as_u16(), resp.bytes().await.unwrap());
        problems.extend(refused(
            &format!("Authorization: {:.20}", auth),
            status,
            &body,
            &[401],
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(
        fingerprint(&app),
        before,
        "a refused request changed something"
    );
}

/// Writes `head`, then dribbles `dribble` one byte at a time; returns what the server sent
/// before it closed the connection, or None if it was still open after `bound`.
fn dribble(address: &str, head: &[u8], dribble: &[u8], bound: Duration) -> Option<Vec<u8>> {
    let host = address.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(150)))
        .unwrap();
    let _ = s.write_all(head);
    let started = Instant::now();
    let mut got = Vec::new();
    let mut next = dribble.iter().cycle();
    while started.elapsed() < bound {
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) => return Some(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            // Reset by the server: closed.
            Err(_) => return Some(got),
        }
        if s.write_all(&[*next.next().unwrap()]).is_err() {
            // The server closed while we wrote; read what it said.
            let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
            let _ = s.read_to_end(&mut got);
            return Some(got);
        }
    }
    None
}

#[tokio::test]
async fn slow_clients_are_cut_off_with_408() {
    let app = spawn_app_with(|s| {
        s.http.request_head_ms = 500;
        s.http.body_idle_ms = 500;
        s.http.body_total_ms = 1500;
        s.http.keep_alive_ms = 500;
    })
    .await;
    // Generous: the server's limits are under two seconds.
    let bound = Duration::from_secs(30);
    let body_head = "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n";
    let cases: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        // Headers one byte at a time, never finished.
        (
            "slow head",
            b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\n".to_vec(),
            b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".to_vec(),
        ),
        // A body one byte at a time: within the idle limit, past the total one.
        (
            "slow body",
            body_head.as_bytes().to_vec(),
            b"{\"username\": \"aaaaaaaaaaaaaaaaaaaa".to_vec(),
        ),
        // A body that never comes.
        ("silent body", body_head.as_bytes().to_vec(), Vec::new()),
    ];
    let mut handles = Vec::new();
    for (label, head, bytes) in cases {
        let address = app.address.clone();
        handles.push(tokio::task::spawn_blocking(move || {
            let got = if bytes.is_empty() {
                silent(&address, &head, bound)
            } else {
                dribble(&address, &head, &bytes, bound)
            };
            (label, got)
        }));
    }
    for h in handles {
        let (label, got) = h.await.unwrap();
        let got = got.unwrap_or_else(|| panic!("{label}: connection still open after {bound:?}"));
        let text = String::from_utf8_lossy(&got);
        assert!(
            got.is_empty() || text.starts_with("HTTP/1.1 408"),
            "{label}: {text}"
        );
        if label != "slow head" {
            // Our own 408 carries the JSON error.
            assert!(text.starts_with("HTTP/1.1 408"), "{label}: {text}");
            assert!(text.contains("\"request_timeout\""), "{label}: {text}");
        }
    }
    // An idle kept-alive connection is closed too.
    let address = app.address.clone();
    let idle = tokio::task::spawn_blocking(move || {
        silent(
            &address,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
            Duration::from_secs(30),
        )
    })
    .await
    .unwrap()
    .expect("idle keep-alive connection closed");
    assert!(String::from_utf8_lossy(&idle).starts_with("HTTP/1.1 200"));
    assert_eq!(app.get("/healthz", None).await.status(), 200);
}

/// Writes `head` and then nothing; returns what the server sent before closing, or None if
/// the connection was still open after `bound`.
fn silent(address: &str, head: &[u8], bound: Duration) -> Option<Vec<u8>> {
    let host = address.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(bound)).unwrap();
    s.write_all(head).unwrap();
    let mut got = Vec::new();
    match s.read_to_end(&mut got) {
        Ok(_) => Some(got),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            None
        }
        Err(_) => Some(got),
    }
}
