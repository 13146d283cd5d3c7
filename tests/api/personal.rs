//! Personal data and the flag rules that need it: encryption at rest, the access log,
//! duplicate tenants, locations outside the grid, reviews, tips' reporters.

use diesel::prelude::*;
use serde_json::{Value, json};

use crate::helpers::{assert_error, spawn_app};
use crate::sync::{Device, ID, flags, new_id, records, setup, statuses};

fn flag_of<'a>(list: &'a [Value], kind: &str, subject: &str) -> Option<&'a Value> {
    list.iter()
        .find(|f| f["fields"]["kind"] == kind && f["fields"]["subject_id"] == subject)
}

#[tokio::test]
async fn id_numbers_and_phones_are_encrypted_at_rest_and_full_deliveries_logged() {
    let app = spawn_app().await;
    let (admin, village, grid) = setup(&app).await;
    app.add_user("liuyang", "police-password", "police", &[&village])
        .await;
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;
    let (h, m, r, t) = (new_id(), new_id(), new_id(), new_id());
    let batch = vec![
        dev.put("household", &h, &grid, json!({"address": "x"})),
        dev.put(
            "member",
            &m,
            &grid,
            json!({"household_id": h, "name": "王丽", "id_number": ID, "phone": "13812345678"}),
        ),
        dev.put(
            "rental",
            &r,
            &grid,
            json!({"address": "y", "landlord_phone": "13900001111"}),
        ),
        dev.put(
            "tenant",
            &t,
            &grid,
            json!({"rental_id": r, "name": "李四", "id_number": ID}),
        ),
    ];
    dev.pushed(&app, batch).await;

    // Nothing in the database holds the numbers in the clear: records or history.
    let mut conn = app.pool.get().unwrap();
    let stored: Vec<String> = {
        use fangzha::db::schema::records::dsl::*;
        records.select(fields).load(&mut *conn).unwrap()
    };
    let history: Vec<Option<String>> = {
        use fangzha::db::schema::record_history::dsl::*;
        record_history.select(value).load(&mut *conn).unwrap()
    };
    let all = format!("{stored:?}{history:?}");
    for secret in [ID, "13812345678", "13900001111", "1101"] {
        assert!(!all.contains(secret), "{secret} stored in the clear");
    }
    assert!(all.contains("enc1:"));

    // A grid worker gets masks and leaves no access entries; police get full values, logged.
    let page = dev.pull(&app, json!({})).await;
    let member = records(&page)
        .into_iter()
        .find(|c| c["id"] == json!(m))
        .unwrap();
    assert_eq!(member["fields"]["id_number"], "1101**********002X");
    let police = Device::new(&app, "liuyang", "police-password").await;
    let page = police.pull(&app, json!({})).await;
    let tenant = records(&page)
        .into_iter()
        .find(|c| c["id"] == json!(t))
        .unwrap();
    assert_eq!(tenant["fields"]["id_number"], ID);
    assert!(
        records(&page).iter().all(|c| c["entity"] != "member"),
        "police do not receive members"
    );

    let audit: Value = app.get_json("/api/audit", Some(&admin)).await;
    let access = audit["access"].as_array().unwrap();
    let logged: Vec<(&str, &str)> = access
        .iter()
        .map(|a| {
            (
                a["record_id"].as_str().unwrap(),
                a["purpose"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(logged.contains(&(t.as_str(), "sync_pull")), "{logged:?}");
    assert!(logged.contains(&(r.as_str(), "sync_pull")));
    assert!(
        !logged.iter().any(|(id, _)| *id == m),
        "masked deliveries are not full values"
    );
    assert_eq!(access.len(), 2);

    // History for police is a full delivery too.
    let hist: Value = app
        .get_json(
            &format!("/api/records/tenant/{t}/history"),
            Some(&police.token),
        )
        .await;
    assert!(
        hist["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["value"] == ID)
    );
    let audit: Value = app.get_json("/api/audit", Some(&admin)).await;
    assert!(
        audit["access"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["purpose"] == "history")
    );
    assert_error(
        app.get("/api/audit", Some(&dev.token)).await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn a_reveal_gives_police_full_values_with_a_purpose_and_logs_it() {
    let app = spawn_app().await;
    let (admin, village, grid) = setup(&app).await;
    app.add_user("liuyang", "police-password", "police", &[&village])
        .await;
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;
    let (h, m, r, t) = (new_id(), new_id(), new_id(), new_id());
    let batch = vec![
        dev.put("household", &h, &grid, json!({"address": "x"})),
        dev.put(
            "member",
            &m,
            &grid,
            json!({"household_id": h, "name": "王丽", "id_number": ID, "phone": "13812345678"}),
        ),
        dev.put("rental", &r, &grid, json!({"address": "y"})),
        dev.put(
            "tenant",
            &t,
            &grid,
            json!({"rental_id": r, "name": "李四", "id_number": ID, "phone": "13900001111"}),
        ),
    ];
    dev.pushed(&app, batch).await;
    let police = Device::new(&app, "liuyang", "police-password").await;
    let reveal = |entity: &str, id: &str| format!("/api/records/{entity}/{id}/reveal");
    let why = json!({"purpose": "核对租客身份"});

    // A grid worker may not reveal; police must say why.
    assert_error(
        app.post(&reveal("member", &m), &why, Some(&dev.token))
            .await,
        403,
        "forbidden",
    )
    .await;
    let err = assert_error(
        app.post(
            &reveal("tenant", &t),
            &json!({"purpose": " "}),
            Some(&police.token),
        )
        .await,
        400,
        "invalid_value",
    )
    .await;
    assert_eq!(err["field"], "purpose");

    let resp = app
        .post(&reveal("tenant", &t), &why, Some(&police.token))
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["fields"]["id_number"], ID);
    assert_eq!(body["fields"]["phone"], "13900001111");
    assert!(
        body["fields"].get("name").is_none(),
        "only personal numbers"
    );

    // Police do not reach members (404, as for anything outside their areas); admins do.
    assert_error(
        app.post(&reveal("member", &m), &why, Some(&police.token))
            .await,
        404,
        "not_found",
    )
    .await;
    let resp = app.post(&reveal("member", &m), &why, Some(&admin)).await;
    assert_eq!(resp.status(), 200);

    let audit: Value = app.get_json("/api/audit", Some(&admin)).await;
    let reveals: Vec<&Value> = audit["access"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["purpose"].as_str().unwrap().starts_with("reveal"))
        .collect();
    assert_eq!(reveals.len(), 2, "{reveals:?}");
    assert!(reveals.iter().any(|a| a["record_id"] == json!(t)
        && a["purpose"] == "reveal: 核对租客身份"
        && a["fields"] == "id_number,phone"));
}

#[tokio::test]
async fn the_same_tenant_at_two_rentals_is_flagged_until_one_moves_out() {
    let app = spawn_app().await;
    let (_, _, grid) = setup(&app).await;
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;
    let (r1, r2, t1, t2) = (new_id(), new_id(), new_id(), new_id());
    let batch = vec![
        dev.put(
            "rental",
            &r1,
            &grid,
            json!({"address": "一号楼", "rent_mode": "daily"}),
        ),
        dev.put("rental", &r2, &grid, json!({"address": "二号楼"})),
        dev.put(
            "tenant",
            &t1,
            &grid,
            json!({"rental_id": r1, "name": "李四", "id_number": ID}),
        ),
    ];
    dev.pushed(&app, batch).await;
    let first = dev.pull(&app, json!({})).await;
    assert!(
        flag_of(&flags(&first), "duplicate_tenant", &t1).is_none(),
        "one rental: no duplicate"
    );
    assert!(
        flag_of(&flags(&first), "fraud_risk", &r1).is_none(),
        "D1 alone is green"
    );

    // Another phone registers the same person at the second rental.
    let batch = vec![dev.put(
        "tenant",
        &t2,
        &grid,
        json!({"rental_id": r2, "name": "李四", "id_number": ID}),
    )];
    dev.pushed(&app, batch).await;
    let page = dev.pull(&app, json!({})).await;
    let all = flags(&page);
    for t in [&t1, &t2] {
        let f = flag_of(&all, "duplicate_tenant", t).expect("both tenants flagged");
        assert_eq!(f["fields"]["active"], true);
        assert_eq!(f["fields"]["level"], "info");
    }
    let risk = flag_of(&all, "fraud_risk", &r1).expect("D1 + X1 = 20: yellow");
    assert_eq!(risk["fields"]["score"], 20);
    assert_eq!(risk["fields"]["level"], "yellow");
    let codes: Vec<&str> = risk["fields"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["D1", "X1"]);

    // One of them moves out: both duplicate flags go inactive, the score drops.
    let batch = vec![dev.put("tenant", &t2, &grid, json!({"move_out": "2021-06-01"}))];
    dev.pushed(&app, batch).await;
    let page = dev.pull(&app, json!({})).await;
    let all = flags(&page);
    for t in [&t1, &t2] {
        assert_eq!(
            flag_of(&all, "duplicate_tenant", t).unwrap()["fields"]["active"],
            false,
            "{t}"
        );
    }
    let risk = flag_of(&all, "fraud_risk", &r1).unwrap();
    assert_eq!(risk["fields"]["active"], false);
    assert_eq!(risk["fields"]["level"], "green");
}

/// Every flag record in the database: id → fields.
fn stored_flags(app: &crate::helpers::TestApp) -> std::collections::BTreeMap<String, Value> {
    use fangzha::db::schema::records::dsl::*;
    let mut conn = app.pool.get().unwrap();
    let rows: Vec<(String, String)> = records
        .filter(entity.eq("flag"))
        .select((id, fields))
        .load(&mut *conn)
        .unwrap();
    rows.into_iter()
        .map(|(i, f)| (i, serde_json::from_str(&f).unwrap()))
        .collect()
}

#[tokio::test]
async fn a_full_recompute_rebuilds_exactly_the_flags_pushes_made() {
    let app = spawn_app().await;
    let (_, _, grid) = setup(&app).await;
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;
    let (h1, h2, m1, m2, v) = (new_id(), new_id(), new_id(), new_id(), new_id());
    let (r1, r2, t1, t2, i) = (new_id(), new_id(), new_id(), new_id(), new_id());
    let batch = vec![
        dev.put("household", &h1, &grid, json!({"address": "一组 1 号"})),
        dev.put(
            "member",
            &m1,
            &grid,
            json!({"household_id": h1, "name": "王丽", "has_smartphone": true, "jzz_registered": true}),
        ),
        dev.put(
            "member",
            &m2,
            &grid,
            json!({"household_id": h1, "name": "王强", "has_smartphone": true}),
        ),
        dev.put(
            "visit",
            &v,
            &grid,
            json!({"target_entity": "household", "target_id": h1, "kind": "door_to_door", "visited_at": "2021-05-20T10:00:00+08:00"}),
        ),
        dev.put("household", &h2, &grid, json!({"address": "一组 2 号"})),
        dev.put(
            "rental",
            &r1,
            &grid,
            json!({"address": "一号楼", "rent_mode": "daily", "payment": "cash"}),
        ),
        dev.put("rental", &r2, &grid, json!({"address": "二号楼"})),
        dev.put(
            "tenant",
            &t1,
            &grid,
            json!({"rental_id": r1, "name": "李四", "id_number": ID}),
        ),
        dev.put(
            "tenant",
            &t2,
            &grid,
            json!({"rental_id": r2, "name": "李四", "id_number": ID}),
        ),
        dev.put(
            "inspection",
            &i,
            &grid,
            json!({"rental_id": r2, "indicators": ["A1"], "occupants_observed": 3}),
        ),
    ];
    dev.pushed(&app, batch).await;
    let pushed = stored_flags(&app);
    let kinds: std::collections::BTreeSet<&str> = pushed
        .values()
        .filter(|f| f["active"] == true)
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [
            "duplicate_tenant",
            "fraud_risk",
            "not_visited",
            "unregistered_household"
        ]
    );

    // Nothing to do when the pushes already computed everything.
    let out = crate::cli::fangzha(&app, &["flags", "recompute"], None);
    assert!(String::from_utf8_lossy(&out.stdout).contains("写入 0 处变更"));

    // Without any flags (as after an import), the recompute rebuilds the same ones.
    {
        use fangzha::db::schema::records::dsl::*;
        let mut conn = app.pool.get().unwrap();
        diesel::delete(records.filter(entity.eq("flag")))
            .execute(&mut *conn)
            .unwrap();
    }
    let out = crate::cli::fangzha(&app, &["flags", "recompute"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stored_flags(&app), pushed);
    let out = crate::cli::fangzha(&app, &["flags", "recompute"], None);
    assert!(String::from_utf8_lossy(&out.stdout).contains("写入 0 处变更"));
}

#[tokio::test]
async fn locations_outside_the_grid_boundary_are_flagged_boundary_counts_inside() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, village, _) = app.area_tree(&admin).await;
    let square = json!({"type": "Polygon", "coordinates": [[[110.0, 28.0], [110.1, 28.0], [110.1, 28.1], [110.0, 28.1], [110.0, 28.0]]]});
    let r = app
        .post("/api/admin/areas", &json!({"id": "g-bounded", "name": "有边界网格", "level": "grid", "parent_id": village, "boundary": square}), Some(&admin))
        .await;
    assert_eq!(r.status(), 201);
    app.add_user("wangli", "grid-password-1", "grid_worker", &["g-bounded"])
        .await;
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;
    let (inside, edge, outside, unplaced) = (new_id(), new_id(), new_id(), new_id());
    let batch = vec![
        dev.put(
            "household",
            &inside,
            "g-bounded",
            json!({"address": "内", "lng": 110.05, "lat": 28.05}),
        ),
        dev.put(
            "household",
            &edge,
            "g-bounded",
            json!({"address": "边", "lng": 110.1, "lat": 28.05}),
        ),
        dev.put(
            "household",
            &outside,
            "g-bounded",
            json!({"address": "外", "lng": 110.2, "lat": 28.05}),
        ),
        dev.put(
            "household",
            &unplaced,
            "g-bounded",
            json!({"address": "无坐标"}),
        ),
    ];
    dev.pushed(&app, batch).await;
    let all = flags(&dev.pull(&app, json!({})).await);
    assert!(flag_of(&all, "outside_grid", &inside).is_none());
    assert!(
        flag_of(&all, "outside_grid", &edge).is_none(),
        "a point on the boundary is inside"
    );
    assert!(flag_of(&all, "outside_grid", &unplaced).is_none());
    let f = flag_of(&all, "outside_grid", &outside).expect("outside flagged");
    assert_eq!(f["fields"]["active"], true);

    // Corrected position: the flag stays, inactive.
    let batch = vec![dev.put("household", &outside, "g-bounded", json!({"lng": 110.09}))];
    dev.pushed(&app, batch).await;
    let all = flags(&dev.pull(&app, json!({})).await);
    assert_eq!(
        flag_of(&all, "outside_grid", &outside).unwrap()["fields"]["active"],
        false
    );
}

#[tokio::test]
async fn reviews_are_for_police_and_a_rising_level_reopens_the_flag() {
    let app = spawn_app().await;
    let (_, village, grid) = setup(&app).await;
    app.add_user("liuyang", "police-password", "police", &[&village])
        .await;
    let police = app.login("liuyang", "police-password").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;
    let r = new_id();
    let batch = vec![dev.put(
        "rental",
        &r,
        &grid,
        json!({"address": "z", "rent_mode": "short", "payment": "cash"}),
    )];
    dev.pushed(&app, batch).await;
    let all = flags(&dev.pull(&app, json!({})).await);
    let flag = flag_of(&all, "fraud_risk", &r)
        .expect("D1 + D2 = 20: yellow")
        .clone();
    let id = flag["id"].as_str().unwrap();
    assert_eq!(flag["fields"]["level"], "yellow");

    let path = format!("/api/flags/{id}/review");
    assert_error(
        app.post(&path, &json!({"state": "cleared"}), Some(&dev.token))
            .await,
        403,
        "forbidden",
    )
    .await;
    let bad = app
        .post(&path, &json!({"state": "forgotten"}), Some(&police))
        .await;
    assert_error(bad, 400, "invalid_value").await;
    assert_error(
        app.post(
            &format!("/api/flags/{}/review", new_id()),
            &json!({"state": "cleared"}),
            Some(&police),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let ok = app
        .post(
            &path,
            &json!({"state": "cleared", "review_note": "房东已补签合同"}),
            Some(&police),
        )
        .await;
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["fields"]["state"], "cleared");

    // The level rises (SIM-bank box found): the flag reopens as new.
    dev.ms = fangzha::db::now_ms() as u64;
    let batch = vec![dev.put(
        "inspection",
        &new_id(),
        &grid,
        json!({"rental_id": r, "indicators": ["A1"]}),
    )];
    dev.pushed(&app, batch).await;
    let all = flags(&dev.pull(&app, json!({})).await);
    let reopened = flag_of(&all, "fraud_risk", &r).unwrap();
    assert_eq!(reopened["fields"]["level"], "red");
    assert_eq!(reopened["fields"]["state"], "new");
    assert_eq!(
        reopened["fields"]["review_note"], "房东已补签合同",
        "the note stays"
    );

    // Every review is in the flag's history with its reviewer.
    let hist: Value = app
        .get_json(&format!("/api/records/flag/{id}/history"), Some(&police))
        .await;
    let states: Vec<&Value> = hist["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["field"] == "state")
        .map(|e| &e["value"])
        .collect();
    assert_eq!(states, [&json!("new"), &json!("cleared"), &json!("new")]);
}

#[tokio::test]
async fn a_tips_reporter_reaches_police_only() {
    let app = spawn_app().await;
    let (_, village, grid) = setup(&app).await;
    app.add_user("liuyang", "police-password", "police", &[&village])
        .await;
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;
    let (r, i) = (new_id(), new_id());
    let batch = vec![
        dev.put("rental", &r, &grid, json!({"address": "z"})),
        dev.put(
            "inspection",
            &i,
            &grid,
            json!({"rental_id": r, "indicators": ["F1"], "reporter": "邻居 张大妈 13700001111"}),
        ),
    ];
    assert_eq!(
        statuses(&dev.pushed(&app, batch).await),
        ["applied", "applied"]
    );
    let page = dev.pull(&app, json!({})).await;
    let seen = records(&page)
        .into_iter()
        .find(|c| c["id"] == json!(i))
        .unwrap();
    assert!(
        seen["fields"].get("reporter").is_none(),
        "withheld from the grid worker: {seen}"
    );
    assert_eq!(seen["fields"]["indicators"], json!(["F1"]));
    let hist: Value = app
        .get_json(
            &format!("/api/records/inspection/{i}/history"),
            Some(&dev.token),
        )
        .await;
    assert!(
        hist["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["field"] != "reporter")
    );

    let police = Device::new(&app, "liuyang", "police-password").await;
    let page = police.pull(&app, json!({})).await;
    let seen = records(&page)
        .into_iter()
        .find(|c| c["id"] == json!(i))
        .unwrap();
    assert_eq!(seen["fields"]["reporter"], "邻居 张大妈 13700001111");
}

#[tokio::test]
async fn visits_before_the_campaign_start_do_not_count() {
    let app = spawn_app().await;
    let (_, _, grid) = setup(&app).await;
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;
    let h = new_id();
    let visit = |d: &mut Device, date: &str| {
        d.put("visit", &new_id(), &grid, json!({"target_entity": "household", "target_id": h, "kind": "door_to_door", "outcome": "met", "visited_at": format!("{date}T10:00:00+08:00")}))
    };
    let batch = vec![
        dev.put("household", &h, &grid, json!({"address": "x"})),
        visit(&mut dev, "2021-04-01"),
    ];
    dev.pushed(&app, batch).await;
    let all = flags(&dev.pull(&app, json!({})).await);
    assert_eq!(
        flag_of(&all, "not_visited", &h).unwrap()["fields"]["active"],
        true,
        "April is before 2021-05-10"
    );
    let batch = vec![visit(&mut dev, "2021-05-20")];
    dev.pushed(&app, batch).await;
    let all = flags(&dev.pull(&app, json!({})).await);
    assert_eq!(
        flag_of(&all, "not_visited", &h).unwrap()["fields"]["active"],
        false
    );
}
