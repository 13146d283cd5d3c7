//! Push and pull over HTTP, as SYNC.md describes them.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app};

/// A grid worker's device: its client id, token and mutation counter.
pub(crate) struct Device {
    pub(crate) client_id: String,
    pub(crate) token: String,
    pub(crate) mid: i64,
    pub(crate) ms: u64,
}

impl Device {
    pub(crate) async fn new(app: &TestApp, username: &str, password: &str) -> Device {
        let token = app.login(username, password).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        Device {
            client_id: uuid::Uuid::now_v7().to_string(),
            token,
            mid: 0,
            ms: fangzha::db::now_ms() as u64 - 60_000,
        }
    }

    pub(crate) fn hlc(&mut self) -> String {
        self.ms += 1;
        format!("{:015}-00000-{}", self.ms, self.client_id)
    }

    pub(crate) fn put(&mut self, entity: &str, id: &str, scope: &str, fields: Value) -> Value {
        self.mid += 1;
        json!({"mid": self.mid, "hlc": self.hlc(), "entity": entity, "id": id, "scope": scope, "op": "put", "fields": fields})
    }

    pub(crate) fn op(&mut self, op: &str, entity: &str, id: &str, scope: &str) -> Value {
        self.mid += 1;
        json!({"mid": self.mid, "hlc": self.hlc(), "entity": entity, "id": id, "scope": scope, "op": op})
    }

    pub(crate) async fn push(&self, app: &TestApp, mutations: Vec<Value>) -> reqwest::Response {
        app.post(
            "/api/sync/push",
            &json!({"client_id": self.client_id, "schema": 1, "mutations": mutations}),
            Some(&self.token),
        )
        .await
    }

    pub(crate) async fn pushed(&self, app: &TestApp, mutations: Vec<Value>) -> Value {
        let r = self.push(app, mutations).await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    pub(crate) async fn pull(&self, app: &TestApp, cursors: Value) -> Value {
        let r = app
            .post(
                "/api/sync/pull",
                &json!({"client_id": self.client_id, "schema": 1, "cursors": cursors}),
                Some(&self.token),
            )
            .await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The server-computed flags of a pull page.
pub(crate) fn flags(page: &Value) -> Vec<Value> {
    page["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["entity"] == "flag")
        .cloned()
        .collect()
}

/// The changes of a pull page that are not server-computed flags.
pub(crate) fn records(page: &Value) -> Vec<Value> {
    page["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["entity"] != "flag")
        .cloned()
        .collect()
}

pub(crate) fn statuses(resp: &Value) -> Vec<String> {
    resp["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_owned())
        .collect()
}

/// Admin, township/village/grid, a grid worker on the grid. Returns (admin token, grid id).
pub(crate) async fn setup(app: &TestApp) -> (String, String, String) {
    let admin = app.admin_token().await;
    let (_, village, grid) = app.area_tree(&admin).await;
    app.add_user("wangli", "grid-password-1", "grid_worker", &[&grid])
        .await;
    (admin, village, grid)
}

pub(crate) const ID: &str = "11010519491231002X";

#[tokio::test]
async fn push_then_pull_round_trip_with_masking_by_role() {
    let app = spawn_app().await;
    let (_, village, grid) = setup(&app).await;
    app.add_user("liuyang", "police-password", "police", &[&village])
        .await;
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;
    let (h, m, r) = (new_id(), new_id(), new_id());
    let batch = vec![
        dev.put("household", &h, &grid, json!({"address": "幸福路 12 号", "kind": "resident"})),
        dev.put("member", &m, &grid, json!({"household_id": h, "name": "王丽", "id_number": ID, "phone": "13812345678", "has_smartphone": true})),
        dev.put("rental", &r, &grid, json!({"address": "幸福路 14 号", "landlord_phone": "13900001111", "rent_mode": "daily"})),
    ];
    let resp = dev.pushed(&app, batch).await;
    assert_eq!(statuses(&resp), ["applied", "applied", "applied"]);
    assert_eq!(resp["last_mid"], 3);
    assert!(resp["server_hlc"].as_str().unwrap().ends_with("-server"));

    let page = dev.pull(&app, json!({})).await;
    assert_eq!(page["has_more"], false);
    let changes = records(&page);
    assert_eq!(changes.len(), 3);
    let member = changes.iter().find(|c| c["id"] == json!(m)).unwrap();
    assert_eq!(member["fields"]["id_number"], "1101**********002X");
    assert_eq!(member["fields"]["phone"], "138****5678");
    assert_eq!(member["fields"]["name"], "王丽");
    assert!(
        member["hlc"]["name"]
            .as_str()
            .unwrap()
            .ends_with(&dev.client_id)
    );
    // Three records and the household's two flags (unregistered, not visited).
    let cursor = page["cursors"][&grid].as_i64().unwrap();
    assert_eq!(cursor, 5);
    assert_eq!(page["checksums"][&grid]["count"], 5);

    // Police see the rental side of their village's grids only, with full values.
    let police = Device::new(&app, "liuyang", "police-password").await;
    let page = police.pull(&app, json!({})).await;
    let entities: Vec<&str> = page["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["entity"].as_str().unwrap())
        .collect();
    assert_eq!(entities, ["rental"]);
    assert_eq!(
        page["changes"][0]["fields"]["landlord_phone"],
        "13900001111"
    );
    assert!(page["scopes"].as_array().unwrap().contains(&json!(grid)));

    // Nothing new after the cursor.
    let again = dev.pull(&app, json!({ grid.clone(): cursor })).await;
    assert_eq!(again["changes"], json!([]));
    assert_eq!(again["cursors"][&grid], cursor);
}

#[tokio::test]
async fn retries_are_duplicates_and_gaps_are_refused() {
    let app = spawn_app().await;
    let (_, _, grid) = setup(&app).await;
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;
    let h = new_id();
    let batch = vec![
        dev.put("household", &h, &grid, json!({"address": "一"})),
        dev.put("household", &h, &grid, json!({"notes": "二"})),
    ];
    assert_eq!(
        statuses(&dev.pushed(&app, batch.clone()).await),
        ["applied", "applied"]
    );
    let seq_before = dev.pull(&app, json!({})).await["cursors"][&grid].clone();

    // The same batch again (response lost): all duplicates, nothing changes.
    let again = dev.pushed(&app, batch.clone()).await;
    assert_eq!(statuses(&again), ["duplicate", "duplicate"]);
    assert_eq!(again["last_mid"], 2);
    assert_eq!(
        dev.pull(&app, json!({})).await["cursors"][&grid],
        seq_before
    );

    // Overlapping retry: old mids duplicate, the new one applies.
    let mut overlap = batch[1..].to_vec();
    overlap.push(dev.put("household", &h, &grid, json!({"notes": "三"})));
    assert_eq!(
        statuses(&dev.pushed(&app, overlap).await),
        ["duplicate", "applied"]
    );

    // A batch that starts past last+1: 409 with the expected mid, nothing applied.
    dev.mid += 5;
    let gap = dev.put("household", &h, &grid, json!({"notes": "四"}));
    let body = assert_error(dev.push(&app, vec![gap]).await, 409, "mid_gap").await;
    assert_eq!(body["expected"], 4);
    let page = dev.pull(&app, json!({})).await;
    assert_eq!(records(&page)[0]["fields"]["notes"], "三");
}

#[tokio::test]
async fn clock_skew_schema_and_size_limits() {
    let app = spawn_app().await;
    let (_, _, grid) = setup(&app).await;
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;
    let h = new_id();
    let ok = dev.put("household", &h, &grid, json!({"address": "一"}));
    dev.ms = fangzha::db::now_ms() as u64 + 11 * 60 * 1000;
    let ahead = dev.put("household", &h, &grid, json!({"address": "二"}));
    let body = assert_error(
        dev.push(&app, vec![ok.clone(), ahead]).await,
        409,
        "clock_skew",
    )
    .await;
    assert!(body["server_time_ms"].as_i64().unwrap() > 0);
    assert_eq!(
        dev.pull(&app, json!({})).await["changes"],
        json!([]),
        "nothing of the batch applied"
    );

    // A very old HLC is fine (phones stay offline for days).
    let mut old = ok.clone();
    old["hlc"] = json!(format!(
        "{:015}-00000-{}",
        1_600_000_000_000u64, dev.client_id
    ));
    assert_eq!(statuses(&dev.pushed(&app, vec![old]).await), ["applied"]);

    let r = app
        .post(
            "/api/sync/push",
            &json!({"client_id": dev.client_id, "schema": 99, "mutations": []}),
            Some(&dev.token),
        )
        .await;
    assert_error(r, 426, "schema_unsupported").await;
    let r = app
        .post(
            "/api/sync/pull",
            &json!({"client_id": dev.client_id, "schema": 0}),
            Some(&dev.token),
        )
        .await;
    assert_error(r, 426, "schema_unsupported").await;

    let many: Vec<Value> = (2..=502).map(|mid| json!({"mid": mid, "hlc": "x", "entity": "household", "id": "x", "scope": grid, "op": "put"})).collect();
    assert_error(dev.push(&app, many).await, 413, "too_many_mutations").await;
}

#[tokio::test]
async fn bad_mutations_are_rejected_one_by_one_and_kept() {
    let app = spawn_app().await;
    let (_, _, grid) = setup(&app).await;
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;
    let h = new_id();
    let mut batch = vec![
        dev.put("household", &h, &grid, json!({"address": "好的"})),
        dev.put("spaceship", &new_id(), &grid, json!({})),
        dev.put("household", &new_id(), &grid, json!({"colour": "red"})),
        dev.put("household", &new_id(), &grid, json!({"lat": "north"})),
        dev.put(
            "member",
            &new_id(),
            &grid,
            json!({"household_id": h, "id_number": "110105194912310021"}),
        ),
        dev.put(
            "member",
            &new_id(),
            &grid,
            json!({"household_id": h, "phone": "12345"}),
        ),
        dev.put("household", &new_id(), &grid, json!({"kind": "palace"})),
        dev.put(
            "member",
            &new_id(),
            &grid,
            json!({"household_id": new_id()}),
        ),
        dev.put("flag", &new_id(), &grid, json!({"state": "cleared"})),
        dev.put(
            "household",
            &new_id(),
            "some-other-area",
            json!({"address": "x"}),
        ),
    ];
    let mut no_id = dev.put("household", "not-a-uuid", &grid, json!({}));
    no_id["id"] = json!("not-a-uuid");
    batch.push(no_id);
    let mut bad_hlc = dev.put("household", &new_id(), &grid, json!({}));
    bad_hlc["hlc"] = json!("yesterday");
    batch.push(bad_hlc);
    let mut bad_op = dev.put("household", &new_id(), &grid, json!({}));
    bad_op["op"] = json!("upsert");
    batch.push(bad_op);
    batch.push(dev.put(
        "member",
        &new_id(),
        &grid,
        json!({"household_id": h, "name": "最后一条"}),
    ));

    let resp = dev.pushed(&app, batch).await;
    let results = resp["results"].as_array().unwrap();
    let expect = [
        ("applied", None, None),
        ("rejected", Some("unknown_entity"), Some("entity")),
        ("rejected", Some("unknown_field"), Some("colour")),
        ("rejected", Some("invalid_type"), Some("lat")),
        ("rejected", Some("invalid_value"), Some("id_number")),
        ("rejected", Some("invalid_value"), Some("phone")),
        ("rejected", Some("invalid_value"), Some("kind")),
        ("rejected", Some("unknown_reference"), Some("household_id")),
        ("rejected", Some("field_forbidden"), Some("state")),
        ("rejected", Some("scope_forbidden"), Some("scope")),
        ("rejected", Some("invalid_mutation"), Some("id")),
        ("rejected", Some("invalid_mutation"), Some("hlc")),
        ("rejected", Some("invalid_mutation"), Some("op")),
        ("applied", None, None),
    ];
    assert_eq!(results.len(), expect.len());
    for (r, (status, code, field)) in results.iter().zip(expect) {
        assert_eq!(r["status"], status, "{r}");
        if let Some(code) = code {
            assert_eq!(r["error"]["code"], code, "{r}");
            assert_eq!(r["error"]["field"], field.unwrap(), "{r}");
            assert!(!r["error"]["message"].as_str().unwrap().is_empty());
        }
    }
    assert_eq!(resp["last_mid"], 14, "rejected mutations use up their mids");
    let page = dev.pull(&app, json!({})).await;
    assert_eq!(records(&page).len(), 2, "only the two good ones");

    let kept: i64 = {
        use diesel::prelude::*;
        use fangzha::db::schema::rejected_mutations::dsl::*;
        let mut conn = app.pool.get().unwrap();
        rejected_mutations.count().get_result(&mut *conn).unwrap()
    };
    assert_eq!(kept, 12, "every rejected mutation is kept for review");

    // A malformed request as a whole: 400, nothing applied.
    let r = app
        .post(
            "/api/sync/push",
            &json!({"client_id": dev.client_id, "schema": 1, "mutations": [{"hlc": "x"}]}),
            Some(&dev.token),
        )
        .await;
    assert_error(r, 400, "invalid_request").await;
    let r = app
        .post(
            "/api/sync/push",
            &json!({"client_id": "nope", "schema": 1, "mutations": []}),
            Some(&dev.token),
        )
        .await;
    assert_error(r, 400, "invalid_request").await;
    let r = app
        .post("/api/sync/push", &json!({"schema": 1}), Some(&dev.token))
        .await;
    assert_error(r, 400, "invalid_request").await;
}

#[tokio::test]
async fn delete_wins_restore_brings_back_newest_values() {
    let app = spawn_app().await;
    let (_, _, grid) = setup(&app).await;
    let mut a = Device::new(&app, "wangli", "grid-password-1").await;
    let h = new_id();
    let first = vec![a.put("household", &h, &grid, json!({"address": "旧址"}))];
    a.pushed(&app, first).await;
    let del = a.op("delete", "household", &h, &grid);
    let edit = a.put("household", &h, &grid, json!({"address": "新址"}));
    a.pushed(&app, vec![del, edit]).await;

    let page = a.pull(&app, json!({})).await;
    assert_eq!(
        records(&page),
        Vec::<Value>::new(),
        "deleted records are left out from cursor 0"
    );
    let page = a.pull(&app, json!({ grid.clone(): 1 })).await;
    assert_eq!(records(&page)[0]["deleted"], true);

    let restore = vec![a.op("restore", "household", &h, &grid)];
    a.pushed(&app, restore).await;
    let page = a.pull(&app, json!({})).await;
    assert_eq!(records(&page)[0]["deleted"], false);
    assert_eq!(records(&page)[0]["fields"]["address"], "新址");
}

#[tokio::test]
async fn losing_values_are_kept_in_history_and_history_is_scoped() {
    let app = spawn_app().await;
    let (admin, village, grid) = setup(&app).await;
    let mut a = Device::new(&app, "wangli", "grid-password-1").await;
    app.add_user("zhaomin", "grid-password-2", "grid_worker", &[&grid])
        .await;
    let mut b = Device::new(&app, "zhaomin", "grid-password-2").await;
    let h = new_id();
    b.ms = a.ms + 1000;
    let newer = vec![b.put("household", &h, &grid, json!({"notes": "新的"}))];
    b.pushed(&app, newer).await;
    let older = vec![a.put("household", &h, &grid, json!({"notes": "旧的"}))];
    a.pushed(&app, older).await;

    let page = a.pull(&app, json!({})).await;
    assert_eq!(records(&page)[0]["fields"]["notes"], "新的");
    let hist: Value = app
        .get_json(
            &format!("/api/records/household/{h}/history"),
            Some(&a.token),
        )
        .await;
    let entries = hist["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    let lost = entries.iter().find(|e| e["value"] == "旧的").unwrap();
    assert_eq!(lost["won"], false);
    assert_eq!(lost["client_id"], json!(a.client_id));
    assert_eq!(lost["user_name"], "wangli");

    // Someone on another grid: 404, as if it did not exist.
    let grid2 = app.add_grid(&admin, &village, "第二网格").await;
    app.add_user("other", "grid-password-3", "grid_worker", &[&grid2])
        .await;
    let other = app.login("other", "grid-password-3").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_error(
        app.get(&format!("/api/records/household/{h}/history"), Some(&other))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.get(&format!("/api/records/tenant/{h}/history"), Some(&a.token))
            .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn a_client_id_belongs_to_its_first_user() {
    let app = spawn_app().await;
    let (_, _, grid) = setup(&app).await;
    app.add_user("zhaomin", "grid-password-2", "grid_worker", &[&grid])
        .await;
    let a = Device::new(&app, "wangli", "grid-password-1").await;
    a.pull(&app, json!({})).await;
    let mut b = Device::new(&app, "zhaomin", "grid-password-2").await;
    b.client_id = a.client_id.clone();
    let r = app
        .post(
            "/api/sync/pull",
            &json!({"client_id": b.client_id, "schema": 1}),
            Some(&b.token),
        )
        .await;
    assert_error(r, 403, "client_id_taken").await;
    assert_error(b.push(&app, vec![]).await, 403, "client_id_taken").await;
}

#[tokio::test]
async fn masked_values_written_back_are_ignored() {
    let app = spawn_app().await;
    let (_, _, grid) = setup(&app).await;
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;
    let (h, m) = (new_id(), new_id());
    let batch = vec![
        dev.put("household", &h, &grid, json!({"address": "x"})),
        dev.put(
            "member",
            &m,
            &grid,
            json!({"household_id": h, "id_number": ID, "name": "王丽"}),
        ),
    ];
    dev.pushed(&app, batch).await;
    let page = dev.pull(&app, json!({})).await;
    let masked = page["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == json!(m))
        .unwrap()["fields"]["id_number"]
        .clone();
    let echo = vec![dev.put(
        "member",
        &m,
        &grid,
        json!({"id_number": masked, "name": "王莉"}),
    )];
    let resp = dev.pushed(&app, echo).await;
    assert_eq!(statuses(&resp), ["applied"]);
    let admin = app.login("admin", "admin-password-1").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let hist: Value = app
        .get_json(&format!("/api/records/member/{m}/history"), Some(&admin))
        .await;
    let ids: Vec<&Value> = hist["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["field"] == "id_number")
        .map(|e| &e["value"])
        .collect();
    assert_eq!(
        ids,
        [&json!(ID)],
        "the stored value stays; the masked echo is not a change"
    );
}

#[tokio::test]
async fn reassignment_announces_removed_scopes() {
    let app = spawn_app().await;
    let (admin, village, grid) = setup(&app).await;
    let grid2 = app.add_grid(&admin, &village, "第二网格").await;
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;
    let page = dev.pull(&app, json!({})).await;
    assert_eq!(page["scopes"], json!([grid]));
    // Stamped while the grid was still held (the device's clock starts a minute early,
    // before the assignment existed, so move it to now).
    dev.ms = fangzha::db::now_ms() as u64;
    let before = dev.put("household", &new_id(), &grid, json!({"address": "改派前"}));
    std::thread::sleep(std::time::Duration::from_millis(5));

    let users: Value = app.get_json("/api/admin/users", Some(&admin)).await;
    let uid = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "wangli")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.put(
        &format!("/api/admin/users/{uid}/areas"),
        &json!({"areas": [grid2]}),
        &admin,
    )
    .await;

    dev.ms = fangzha::db::now_ms() as u64 + 1000;
    let after = dev.put("household", &new_id(), &grid, json!({"address": "改派后"}));
    let resp = dev.pushed(&app, vec![before, after]).await;
    assert_eq!(statuses(&resp), ["applied", "rejected"]);
    assert_eq!(resp["results"][1]["error"]["code"], "scope_forbidden");

    let page = dev.pull(&app, json!({ grid.clone(): 0 })).await;
    assert_eq!(page["removed_scopes"], json!([grid]));
    assert_eq!(page["scopes"], json!([grid2]));
}

#[tokio::test]
async fn flags_follow_the_field_work_and_police_review_them() {
    let app = spawn_app().await;
    let (_, village, grid) = setup(&app).await;
    app.add_user("liuyang", "police-password", "police", &[&village])
        .await;
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;
    let (h, m, r) = (new_id(), new_id(), new_id());
    let batch = vec![
        dev.put(
            "household",
            &h,
            &grid,
            json!({"address": "幸福路 12 号", "kind": "resident"}),
        ),
        dev.put(
            "member",
            &m,
            &grid,
            json!({"household_id": h, "name": "王丽", "has_smartphone": true}),
        ),
        dev.put(
            "rental",
            &r,
            &grid,
            json!({"address": "幸福路 14 号", "payment": "cash"}),
        ),
        dev.put(
            "inspection",
            &new_id(),
            &grid,
            json!({"rental_id": r, "indicators": ["A1"], "occupants_observed": 2}),
        ),
    ];
    dev.pushed(&app, batch).await;

    let find = |list: &[Value], kind: &str| {
        list.iter()
            .find(|f| f["fields"]["kind"] == kind)
            .cloned()
            .unwrap()
    };

    let page = dev.pull(&app, json!({})).await;
    let all = flags(&page);
    let unreg = find(&all, "unregistered_household");
    assert_eq!(unreg["fields"]["status"], "unregistered");
    assert_eq!(unreg["fields"]["level"], "red");
    assert_eq!(unreg["fields"]["active"], true);
    assert_eq!(unreg["fields"]["state"], "new");
    assert_eq!(unreg["fields"]["subject_id"], json!(h));
    assert_eq!(find(&all, "not_visited")["fields"]["active"], true);
    let risk = find(&all, "fraud_risk");
    // A1 40 + B1 (2 observed, no tenants) 15 + D2 (cash, no contract) 10 + A×D bonus 10.
    assert_eq!(risk["fields"]["score"], 75);
    assert_eq!(risk["fields"]["level"], "red");
    let codes: Vec<&str> = risk["fields"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["A1", "B1", "D2", "COMBO"]);
    assert_eq!(risk["fields"]["rule_version"], "2021.1");
    let cursor = page["cursors"][&grid].clone();

    // The member registers and a door-to-door visit is recorded: both flags go inactive,
    // updated in place (same ids), not deleted.
    let batch = vec![
        dev.put("member", &m, &grid, json!({"jzz_registered": true})),
        dev.put("visit", &new_id(), &grid, json!({"target_entity": "household", "target_id": h, "kind": "door_to_door", "outcome": "met"})),
    ];
    dev.pushed(&app, batch).await;
    let later = flags(&dev.pull(&app, json!({ grid.clone(): cursor })).await);
    let unreg2 = find(&later, "unregistered_household");
    assert_eq!(unreg2["id"], unreg["id"]);
    assert_eq!(unreg2["fields"]["status"], "registered");
    assert_eq!(unreg2["fields"]["level"], "green");
    assert_eq!(unreg2["fields"]["active"], false);
    assert_eq!(find(&later, "not_visited")["fields"]["active"], false);

    // Police see the rental's flag but not the household's, and record their review.
    let mut police = Device::new(&app, "liuyang", "police-password").await;
    let seen = flags(&police.pull(&app, json!({})).await);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["fields"]["kind"], "fraud_risk");
    let flag_id = seen[0]["id"].as_str().unwrap().to_owned();
    // A real client's HLC observes what it pulled, so its review orders after the flag.
    police.ms = fangzha::db::now_ms() as u64;
    let review = vec![police.put(
        "flag",
        &flag_id,
        &grid,
        json!({"state": "in_review", "review_note": "已约谈房东"}),
    )];
    assert_eq!(statuses(&police.pushed(&app, review).await), ["applied"]);
    let forbidden = vec![police.put("flag", &flag_id, &grid, json!({"level": "green"}))];
    let resp = police.pushed(&app, forbidden).await;
    assert_eq!(resp["results"][0]["error"]["code"], "field_forbidden");
    let after = flags(&police.pull(&app, json!({})).await);
    assert_eq!(after[0]["fields"]["state"], "in_review");
    assert_eq!(after[0]["fields"]["level"], "red");
}

/// A coordinate comes back with every digit the phone sent (both are the shortest text of
/// their number, as a phone's JSON has them). Without serde_json's `float_roundtrip` the
/// longitude was parsed one ulp off and served as 110.6546369762596.
#[tokio::test]
async fn coordinates_come_back_with_every_digit() {
    let app = spawn_app().await;
    let (_, _, grid) = setup(&app).await;
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;
    let id = new_id();
    let put = dev.put(
        "household",
        &id,
        &grid,
        json!({"address": "东山村1组", "lng": 110.65463697625961, "lat": 27.958127613849495}),
    );
    let pushed = dev.pushed(&app, vec![put]).await;
    assert_eq!(statuses(&pushed), ["applied"]);

    let r = app
        .post(
            "/api/sync/pull",
            &json!({"client_id": dev.client_id, "schema": 1, "cursors": {}}),
            Some(&dev.token),
        )
        .await;
    assert_eq!(r.status(), 200);
    // The text, not a parsed value: the test's own parser must not hide a lost digit.
    let text = r.text().await.unwrap();
    assert!(text.contains("\"lng\":110.65463697625961"), "{text}");
    assert!(text.contains("\"lat\":27.958127613849495"), "{text}");
}
