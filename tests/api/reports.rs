//! The desk side's numbers over HTTP: campaign configuration versions, dashboards, the
//! ranking's arithmetic, fraud cases and model villages.

use serde_json::{Value, json};

use crate::helpers::{assert_error, spawn_app};
use crate::sync::{Device, new_id, setup};

/// A grid with two households (one registered and visited), a rental inspected with a GOIP
/// box and publicity items; returns (admin token, village, grid, rental id).
async fn field_work(app: &crate::helpers::TestApp) -> (String, String, String, String) {
    let (admin, village, grid) = setup(app).await;
    let mut dev = Device::new(app, "wangli", "grid-password-1").await;
    let (h1, h2, m1, m2, v) = (new_id(), new_id(), new_id(), new_id(), new_id());
    let (r, t, i) = (new_id(), new_id(), new_id());
    let batch = vec![
        dev.put("household", &h1, &grid, json!({"address": "一组 1 号"})),
        dev.put(
            "member",
            &m1,
            &grid,
            json!({"household_id": h1, "name": "王丽", "has_smartphone": true, "jzz_registered": true, "jzz_registered_on": "2021-05-12"}),
        ),
        dev.put(
            "visit",
            &v,
            &grid,
            json!({"target_entity": "household", "target_id": h1, "kind": "door_to_door", "visited_at": "2021-05-12T10:00:00+08:00"}),
        ),
        dev.put("household", &h2, &grid, json!({"address": "一组 2 号"})),
        dev.put(
            "member",
            &m2,
            &grid,
            json!({"household_id": h2, "name": "王强", "has_smartphone": true}),
        ),
        dev.put("rental", &r, &grid, json!({"address": "一号楼"})),
        dev.put("tenant", &t, &grid, json!({"rental_id": r, "name": "李四"})),
        dev.put(
            "inspection",
            &i,
            &grid,
            json!({"rental_id": r, "indicators": ["A1"], "occupants_observed": 4, "inspected_at": "2021-05-13T09:00:00+08:00"}),
        ),
        dev.put(
            "publicity",
            &new_id(),
            &grid,
            json!({"kind": "banner", "count": 2, "date": "2021-05-14"}),
        ),
        dev.put(
            "publicity",
            &new_id(),
            &grid,
            json!({"kind": "red_paper_slogan", "count": 5, "compound": "幸福小区", "date": "2021-05-14"}),
        ),
    ];
    dev.pushed(app, batch).await;
    (admin, village, grid, r)
}

#[tokio::test]
async fn campaign_configuration_is_versioned_and_validated() {
    let app = spawn_app().await;
    let (admin, _, grid) = setup(&app).await;
    let dev = Device::new(&app, "wangli", "grid-password-1").await;
    let current: Value = app.get_json("/api/campaign", Some(&dev.token)).await;
    assert_eq!(current["version"], 0);
    assert_eq!(current["config"]["dates"]["start"], "2021-05-10");
    assert_eq!(current["deadlines"].as_array().unwrap().len(), 5);

    let mut config = current["config"].clone();
    assert_error(
        app.put("/api/admin/campaign", &config, &dev.token).await,
        403,
        "forbidden",
    )
    .await;
    config["targets"]["registration_rate"] = json!(95);
    let err = assert_error(
        app.put("/api/admin/campaign", &config, &admin).await,
        400,
        "invalid_value",
    )
    .await;
    assert_eq!(err["field"], "targets.registration_rate");

    // A visit on 12 May counts from a 10 May start, not from a 15 May one.
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;
    let (h, v) = (new_id(), new_id());
    let batch = vec![
        dev.put("household", &h, &grid, json!({"address": "一组 3 号"})),
        dev.put(
            "visit",
            &v,
            &grid,
            json!({"target_entity": "household", "target_id": h, "kind": "door_to_door", "visited_at": "2021-05-12T10:00:00+08:00"}),
        ),
    ];
    dev.pushed(&app, batch).await;
    let not_visited = |page: &Value| {
        crate::sync::flags(page)
            .into_iter()
            .find(|f| f["fields"]["kind"] == "not_visited")
            .map(|f| f["fields"]["active"].clone())
    };
    assert_eq!(not_visited(&dev.pull(&app, json!({})).await), None);

    config["targets"]["registration_rate"] = json!(0.9);
    config["dates"]["start"] = json!("2021-05-15");
    let resp = app.put("/api/admin/campaign", &config, &admin).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["version"], 1);
    assert!(body["flags_recomputed"].as_u64().unwrap() >= 1);
    assert_eq!(
        not_visited(&dev.pull(&app, json!({})).await),
        Some(json!(true))
    );

    let current: Value = app.get_json("/api/campaign", Some(&dev.token)).await;
    assert_eq!(current["version"], 1);
    assert_eq!(current["config"]["targets"]["registration_rate"], 0.9);
    let versions: Value = app
        .get_json("/api/admin/campaign/versions", Some(&admin))
        .await;
    assert_eq!(versions.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn dashboards_count_the_field_work_per_area() {
    let app = spawn_app().await;
    let (admin, village, grid, _) = field_work(&app).await;
    let other = app.add_grid(&admin, &village, "第二网格").await;

    let body: Value = app
        .get_json(
            &format!("/api/reports/dashboard?area={village}"),
            Some(&admin),
        )
        .await;
    let f = &body["figures"];
    assert_eq!(f["households"], 2);
    assert_eq!(f["registered"], 1);
    assert_eq!(f["unregistered"], 1);
    assert_eq!(f["visited"], 1);
    assert_eq!(f["rentals"], 1);
    assert_eq!(f["inspected"], 1);
    assert_eq!(f["occupants_observed"], 4);
    assert_eq!(f["tenants_registered"], 1);
    assert_eq!(f["flags"]["fraud_risk"]["red"]["new"], 1);
    assert_eq!(f["publicity"]["banners"], 2);
    assert_eq!(f["publicity"]["slogans_by_compound"]["幸福小区"], 5);
    assert_eq!(f["trend"]["2021-05-12"]["visits"], 1);
    assert_eq!(f["trend"]["2021-05-12"]["registrations"], 1);
    assert_eq!(f["trend"]["2021-05-13"]["inspections"], 1);
    assert_eq!(body["rates"]["registration_rate"], 0.5);
    assert_eq!(body["rates"]["tenant_registration"], 0.25);
    let children = body["children"].as_array().unwrap();
    assert_eq!(children.len(), 2);
    let first = children
        .iter()
        .find(|c| c["area"]["id"] == json!(grid))
        .unwrap();
    assert_eq!(first["figures"]["households"], 2);
    let second = children
        .iter()
        .find(|c| c["area"]["id"] == json!(other))
        .unwrap();
    assert_eq!(second["figures"]["households"], 0);
    assert_eq!(second["rates"]["registration_rate"], Value::Null);

    // A grid worker sees their own grid by default and nothing beyond it.
    let dev = Device::new(&app, "wangli", "grid-password-1").await;
    let own: Value = app
        .get_json("/api/reports/dashboard", Some(&dev.token))
        .await;
    assert_eq!(own["area"]["id"], json!(grid));
    assert_eq!(own["figures"]["households"], 2);
    assert_error(
        app.get(
            &format!("/api/reports/dashboard?area={village}"),
            Some(&dev.token),
        )
        .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn the_ranking_shows_its_arithmetic_and_cases_cost_points() {
    let app = spawn_app().await;
    let (admin, village, _, _) = field_work(&app).await;
    app.add_user("liuyang", "police-password", "police", &[&village])
        .await;
    let police = app.login("liuyang", "police-password").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let body: Value = app.get_json("/api/reports/ranking", Some(&admin)).await;
    let v = &body["villages"][0];
    assert_eq!(v["village_id"], json!(village));
    assert_eq!(v["rank"], 1);
    let points: Vec<f64> = v["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["points"].as_f64().unwrap())
        .collect();
    // Default weights 30/20/20/10/10/10: registration 1/2 of a 95 % target → 30 × 0.5/0.95
    // = 15.79; visits 1/2 → 10; sweep 1/1 → 20; tenants 1/4 of 95 % → 10 × 0.25/0.95 = 2.63;
    // publicity: banners and the compound's slogans met, no vehicle, no broadcast → 5;
    // the red flag is not yet due → full 10.
    assert_eq!(points, [15.79, 10.0, 20.0, 2.63, 5.0, 10.0]);
    assert_eq!(v["total"], 63.42);

    // Cases: police of the village report them; grid workers may not; the month is checked.
    let case = json!({"village_id": village, "period": "2021-05", "cases": 2, "victims": 2, "loss_yuan": 38000});
    let dev = Device::new(&app, "wangli", "grid-password-1").await;
    assert_error(
        app.post("/api/cases", &case, Some(&dev.token)).await,
        403,
        "forbidden",
    )
    .await;
    let mut bad = case.clone();
    bad["period"] = json!("2021-13");
    let err = assert_error(
        app.post("/api/cases", &bad, Some(&police)).await,
        400,
        "invalid_value",
    )
    .await;
    assert_eq!(err["field"], "period");
    let resp = app.post("/api/cases", &case, Some(&police)).await;
    assert_eq!(resp.status(), 201);

    let body: Value = app.get_json("/api/reports/ranking", Some(&admin)).await;
    let v = &body["villages"][0];
    assert_eq!(v["penalties"][0]["code"], "fraud_case");
    assert_eq!(v["penalties"][0]["points"], -6.0);
    assert_eq!(v["total"], 57.42);
    let cases: Value = app.get_json("/api/cases", Some(&police)).await;
    assert_eq!(cases.as_array().unwrap().len(), 1);

    // The ranking exports as a spreadsheet with the same numbers and how they were made.
    let resp = app.get("/api/exports/ranking.csv", Some(&admin)).await;
    assert_eq!(resp.status(), 200);
    let csv = resp.text().await.unwrap();
    let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
    assert!(
        lines[0].starts_with("名次,村（社区）,金钟罩注册率得分"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("1,东山村,15.79,10,20,2.63,5,10,0,-6,57.42,"),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains("本村居民被骗案件 2 次"), "{}", lines[1]);
}

#[tokio::test]
async fn model_villages_show_the_three_nones_from_recorded_data() {
    let app = spawn_app().await;
    let (admin, village, _, _) = field_work(&app).await;
    let empty: Value = app
        .get_json("/api/reports/model-villages", Some(&admin))
        .await;
    assert_eq!(empty, json!([]));
    let resp = app
        .put(
            &format!("/api/admin/model-villages/{village}"),
            &json!({}),
            &admin,
        )
        .await;
    assert_eq!(resp.status(), 204);
    let list: Value = app
        .get_json("/api/reports/model-villages", Some(&admin))
        .await;
    let nones = &list[0]["three_nones"];
    assert_eq!(nones[0]["met"], true);
    assert_eq!(nones[2]["met"], true, "a red flag is a lead, not a den");
    assert_eq!(list[0]["all_met"], true);

    let case = json!({"village_id": village, "period": "2021-06", "cases": 1, "suspects": 1});
    assert_eq!(
        app.post("/api/cases", &case, Some(&admin)).await.status(),
        201
    );
    let list: Value = app
        .get_json("/api/reports/model-villages", Some(&admin))
        .await;
    assert_eq!(
        list[0]["three_nones"][0]["met"], false,
        "victims default to cases"
    );
    assert_eq!(list[0]["three_nones"][1]["met"], false);
    assert_eq!(list[0]["all_met"], false);
}

#[tokio::test]
async fn a_grid_poster_carries_its_qr_code_group_and_workers() {
    let app = spawn_app().await;
    let (admin, village, grid) = setup(&app).await;
    let dev = Device::new(&app, "wangli", "grid-password-1").await;
    let poster = format!("/api/areas/{grid}/poster.svg");

    // No link yet: the poster says what to do.
    let err = assert_error(app.get(&poster, Some(&dev.token)).await, 409, "no_qr_link").await;
    assert!(err["message"].as_str().unwrap().contains("管理员"));

    let patch = |body: Value| {
        let app = &app;
        let admin = admin.clone();
        let grid = grid.clone();
        async move {
            app.client
                .patch(app.url(&format!("/api/admin/areas/{grid}")))
                .bearer_auth(admin)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let err = assert_error(
        patch(json!({"qr_link": "weixin://x"})).await,
        400,
        "invalid_value",
    )
    .await;
    assert_eq!(err["field"], "qr_link");
    let resp = patch(json!({"qr_link": "https://jzz.example.gov.cn/r?g=1", "wechat_group": "东山村一网格反诈群"})).await;
    assert_eq!(resp.status(), 200);
    let area: Value = resp.json().await.unwrap();
    assert_eq!(area["wechat_group"], "东山村一网格反诈群");
    assert_eq!(area["name"], "第一网格", "fields not sent stay");

    let resp = app.get(&poster, Some(&dev.token)).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("image/svg+xml")
    );
    let svg = resp.text().await.unwrap();
    assert!(svg.contains("清溪镇 东山村 第一网格"), "{svg}");
    assert!(svg.contains("东山村一网格反诈群"));
    assert!(
        svg.contains("网格员：wangli") || svg.contains("网格员：王丽"),
        "{svg}"
    );
    assert!(svg.contains("<path"));

    // Another grid's worker does not get it; a village is not a grid.
    let other = app.add_grid(&admin, &village, "第二网格").await;
    app.add_user("zhaomin", "grid-password-2", "grid_worker", &[&other])
        .await;
    let stranger = Device::new(&app, "zhaomin", "grid-password-2").await;
    assert_error(
        app.get(&poster, Some(&stranger.token)).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.get(&format!("/api/areas/{village}/poster.svg"), Some(&admin))
            .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn users_read_the_areas_they_hold_with_boundaries_for_the_map() {
    let app = spawn_app().await;
    let (admin, village, grid) = setup(&app).await;
    let other = app.add_grid(&admin, &village, "第二网格").await;
    let dev = Device::new(&app, "wangli", "grid-password-1").await;
    let body: Value = app.get_json("/api/areas", Some(&dev.token)).await;
    let ids: Vec<&str> = body["areas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [grid.as_str()]);
    assert!(!ids.contains(&other.as_str()));
    assert_eq!(body["map_tile_url"], Value::Null);
    let all: Value = app.get_json("/api/areas", Some(&admin)).await;
    assert_eq!(all["areas"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn desk_endpoints_check_roles() {
    let app = spawn_app().await;
    let (admin, village, _) = setup(&app).await;
    app.add_user("viewer1", "viewer-password", "viewer", &[&village])
        .await;
    let viewer = app.login("viewer1", "viewer-password").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let model = format!("/api/admin/model-villages/{village}");
    // Admin-only configuration and naming: 403 for a read-only leader.
    assert_error(
        app.get("/api/admin/campaign/versions", Some(&viewer)).await,
        403,
        "forbidden",
    )
    .await;
    assert_error(app.put(&model, &json!({}), &viewer).await, 403, "forbidden").await;
    let case = json!({"village_id": village, "period": "2021-05", "cases": 1});
    assert_error(
        app.post("/api/cases", &case, Some(&viewer)).await,
        403,
        "forbidden",
    )
    .await;
    // Read-only figures are the viewer's to read; nothing without a token.
    for path in [
        "/api/campaign",
        "/api/reports/ranking",
        "/api/reports/model-villages",
        "/api/cases",
        "/api/areas",
    ] {
        assert_eq!(app.get(path, Some(&viewer)).await.status(), 200, "{path}");
        assert_eq!(app.get(path, None).await.status(), 401, "{path}");
    }
    let own: Value = app.get_json("/api/reports/dashboard", Some(&viewer)).await;
    assert_eq!(own["area"]["id"], json!(village));
    assert_eq!(app.put(&model, &json!({}), &admin).await.status(), 204);
}
