use serde_json::{Value, json};

use crate::helpers::{assert_error, spawn_app};

fn square() -> Value {
    json!({"type": "Polygon", "coordinates": [[[112.0, 28.0], [112.1, 28.0], [112.1, 28.1], [112.0, 28.0]]]})
}

#[tokio::test]
async fn admin_builds_the_area_tree_and_reads_it_back() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (town, village, _) = app.area_tree(&admin).await;

    let r = app
        .post(
            "/api/admin/areas",
            &json!({"id": "dongshan-g2", "name": "第二网格", "level": "grid", "parent_id": village,
                    "boundary": square(), "wechat_group": "东山村第二网格群"}),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status(), 201);
    let grid: Value = r.json().await.unwrap();
    assert_eq!(grid["id"], "dongshan-g2");
    assert_eq!(grid["boundary"], square());

    let list: Value = app.get_json("/api/admin/areas", Some(&admin)).await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 4);
    assert_eq!(list[0]["id"], json!(town), "townships first");

    let one: Value = app
        .get_json("/api/admin/areas/dongshan-g2", Some(&admin))
        .await;
    assert_eq!(one["name"], "第二网格");
    assert_eq!(one["parent_id"], json!(village));
    assert_error(
        app.get("/api/admin/areas/nope", Some(&admin)).await,
        404,
        "not_found",
    )
    .await;

    // The same id again: 409, nothing changed.
    let again = app
        .post(
            "/api/admin/areas",
            &json!({"id": "dongshan-g2", "name": "x", "level": "grid", "parent_id": village}),
            Some(&admin),
        )
        .await;
    assert_error(again, 409, "area_exists").await;
}

#[tokio::test]
async fn area_validation_errors_name_the_field() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (town, village, grid) = app.area_tree(&admin).await;

    let cases = [
        (
            json!({"name": "x", "level": "grid", "parent_id": "no-such-area"}),
            "unknown_parent",
            "parent_id",
        ),
        (
            json!({"name": "x", "level": "county", "parent_id": town}),
            "invalid_value",
            "level",
        ),
        (
            json!({"name": "x", "level": "grid", "parent_id": town}),
            "invalid_value",
            "parent_id",
        ),
        (
            json!({"name": "x", "level": "grid", "parent_id": grid}),
            "invalid_value",
            "parent_id",
        ),
        (
            json!({"name": "x", "level": "village"}),
            "invalid_value",
            "parent_id",
        ),
        (
            json!({"name": "  ", "level": "village", "parent_id": town}),
            "invalid_value",
            "name",
        ),
        (
            json!({"name": "x", "level": "grid", "parent_id": village, "boundary": {"type": "Point", "coordinates": [1, 2]}}),
            "invalid_geometry",
            "boundary",
        ),
        (
            json!({"name": "x", "level": "grid", "parent_id": village, "boundary": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}}),
            "invalid_geometry",
            "boundary",
        ),
        (
            json!({"name": "x", "level": "grid", "parent_id": village, "boundary": "not json"}),
            "invalid_geometry",
            "boundary",
        ),
        (
            json!({"id": "../x", "name": "x", "level": "grid", "parent_id": village}),
            "invalid_value",
            "id",
        ),
    ];
    for (body, code, field) in cases {
        let r = app.post("/api/admin/areas", &body, Some(&admin)).await;
        let err = assert_error(r, 400, code).await;
        assert_eq!(err["field"], field, "for {body}");
    }
    let unknown_field = app
        .post(
            "/api/admin/areas",
            &json!({"name": "x", "level": "township", "colour": "red"}),
            Some(&admin),
        )
        .await;
    assert_error(unknown_field, 400, "invalid_request").await;

    let list: Value = app.get_json("/api/admin/areas", Some(&admin)).await;
    assert_eq!(
        list.as_array().unwrap().len(),
        3,
        "no invalid area was stored"
    );
}

#[tokio::test]
async fn admin_creates_users_and_duplicates_are_409() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, _, grid) = app.area_tree(&admin).await;

    let r = app
        .post(
            "/api/admin/users",
            &json!({"username": "wangli", "password": "grid-password-1", "name": "王丽", "role": "grid_worker", "areas": [grid]}),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status(), 201);
    let user: Value = r.json().await.unwrap();
    assert_eq!(user["name"], "王丽");
    assert_eq!(user["areas"], json!([grid]));
    let id = user["id"].as_str().unwrap().to_owned();

    let login = app.login("wangli", "grid-password-1").await;
    assert_eq!(login["user"]["id"], json!(id));

    let dup = app
        .post("/api/admin/users", &json!({"username": "wangli", "password": "other-password", "role": "cadre", "areas": []}), Some(&admin))
        .await;
    let err = assert_error(dup, 409, "username_taken").await;
    assert_eq!(err["field"], "username");

    let default_name = app
        .post("/api/admin/users", &json!({"username": "liuyang", "password": "police-password", "role": "police", "areas": []}), Some(&admin))
        .await;
    assert_eq!(default_name.status(), 201);
    assert_eq!(
        default_name.json::<Value>().await.unwrap()["name"],
        "liuyang"
    );

    let users: Value = app.get_json("/api/admin/users", Some(&admin)).await;
    let text = users.to_string();
    assert!(
        !text.contains("argon2") && !text.contains("password"),
        "{text}"
    );
    assert_eq!(users.as_array().unwrap().len(), 3);

    let one: Value = app
        .get_json(&format!("/api/admin/users/{id}"), Some(&admin))
        .await;
    assert_eq!(one["assignment_history"][0]["area_id"], json!(grid));
}

#[tokio::test]
async fn user_validation_errors_name_the_field() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let cases = [
        (
            json!({"username": "ab", "password": "long-enough-1", "role": "cadre"}),
            "invalid_value",
            "username",
        ),
        (
            json!({"username": "wangli", "password": "short", "role": "cadre"}),
            "invalid_value",
            "password",
        ),
        (
            json!({"username": "wangli", "password": "long-enough-1", "role": "boss"}),
            "invalid_value",
            "role",
        ),
        (
            json!({"username": "wangli", "password": "long-enough-1", "role": "cadre", "areas": ["nowhere"]}),
            "unknown_area",
            "areas",
        ),
    ];
    for (body, code, field) in cases {
        let r = app.post("/api/admin/users", &body, Some(&admin)).await;
        let err = assert_error(r, 400, code).await;
        assert_eq!(err["field"], field, "for {body}");
    }
    let users: Value = app.get_json("/api/admin/users", Some(&admin)).await;
    assert_eq!(users.as_array().unwrap().len(), 1, "only the admin exists");
}

#[tokio::test]
async fn non_admins_get_403_and_anonymous_401() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, village, grid) = app.area_tree(&admin).await;
    app.add_user("wangli", "grid-password-1", "grid_worker", &[&grid])
        .await;
    app.add_user("chenjing", "viewer-password", "viewer", &[&village])
        .await;
    for who in [
        ("wangli", "grid-password-1"),
        ("chenjing", "viewer-password"),
    ] {
        let token = app.login(who.0, who.1).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_error(
            app.get("/api/admin/areas", Some(&token)).await,
            403,
            "forbidden",
        )
        .await;
        assert_error(
            app.get("/api/admin/users", Some(&token)).await,
            403,
            "forbidden",
        )
        .await;
        let r = app
            .post(
                "/api/admin/areas",
                &json!({"name": "x", "level": "township"}),
                Some(&token),
            )
            .await;
        assert_error(r, 403, "forbidden").await;
        let r = app
            .put("/api/admin/users/x/areas", &json!({"areas": []}), &token)
            .await;
        assert_error(r, 403, "forbidden").await;
    }
    assert_error(app.get("/api/admin/users", None).await, 401, "unauthorized").await;
}

#[tokio::test]
async fn reassignment_takes_effect_at_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, village, grid1) = app.area_tree(&admin).await;
    let grid2 = app.add_grid(&admin, &village, "第二网格").await;
    let id = app
        .add_user("wangli", "grid-password-1", "grid_worker", &[&grid1])
        .await;
    let token = app.login("wangli", "grid-password-1").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let r = app
        .put(
            &format!("/api/admin/users/{id}/areas"),
            &json!({"areas": [grid2]}),
            &admin,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["areas"], json!([grid2]));

    // The same access token now sees the new grid only.
    let me: Value = app.get_json("/api/me", Some(&token)).await;
    assert_eq!(me["areas"], json!([grid2]));

    let one: Value = app
        .get_json(&format!("/api/admin/users/{id}"), Some(&admin))
        .await;
    let history = one["assignment_history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["area_id"], json!(grid1));
    assert!(
        history[0]["valid_to_ms"].is_i64(),
        "old assignment closed: {one}"
    );
    assert!(history[1]["valid_to_ms"].is_null());

    let r = app
        .put(
            "/api/admin/users/nobody/areas",
            &json!({"areas": []}),
            &admin,
        )
        .await;
    assert_error(r, 404, "not_found").await;
    let r = app
        .put(
            &format!("/api/admin/users/{id}/areas"),
            &json!({"areas": ["nowhere"]}),
            &admin,
        )
        .await;
    assert_error(r, 400, "unknown_area").await;
    let me: Value = app.get_json("/api/me", Some(&token)).await;
    assert_eq!(
        me["areas"],
        json!([grid2]),
        "a refused reassignment changes nothing"
    );
}

#[tokio::test]
async fn oversized_bodies_are_413_json() {
    let app = crate::helpers::spawn_app_with(|s| s.max_body_bytes = 64 * 1024).await;
    let admin = app.admin_token().await;
    let big = "长".repeat(40_000);
    let r = app
        .post(
            "/api/admin/areas",
            &json!({"name": big, "level": "township"}),
            Some(&admin),
        )
        .await;
    assert_error(r, 413, "payload_too_large").await;
}
