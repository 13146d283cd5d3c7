use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fangzha::auth::jwt::JwtKeys;
use serde_json::{Value, json};

use crate::helpers::{assert_error, spawn_app, spawn_app_with};

#[tokio::test]
async fn login_returns_tokens_and_the_user() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, village, grid) = app.area_tree(&admin).await;
    app.add_user("wangli", "grid-password-1", "grid_worker", &[&grid])
        .await;

    let body = app.login("wangli", "grid-password-1").await;
    assert!(body["access_token"].as_str().unwrap().len() > 20);
    assert!(body["refresh_token"].as_str().unwrap().len() > 20);
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["user"]["name"], "wangli");
    assert_eq!(body["user"]["role"], "grid_worker");
    assert_eq!(body["user"]["areas"], json!([grid]));
    assert_eq!(body["user"]["area_details"][0]["parent_id"], json!(village));
    assert!(body["user"].get("password_hash").is_none());

    let me: Value = app
        .get("/api/me", body["access_token"].as_str())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "wangli");
}

#[tokio::test]
async fn wrong_credentials_are_401_and_unknown_users_look_the_same() {
    let app = spawn_app().await;
    app.add_user("wangli", "grid-password-1", "grid_worker", &[])
        .await;
    let wrong = app
        .post(
            "/api/auth/login",
            &json!({"username": "wangli", "password": "nope-nope"}),
            None,
        )
        .await;
    let a = assert_error(wrong, 401, "invalid_credentials").await;
    let unknown = app
        .post(
            "/api/auth/login",
            &json!({"username": "nobody", "password": "nope-nope"}),
            None,
        )
        .await;
    let b = assert_error(unknown, 401, "invalid_credentials").await;
    assert_eq!(a, b);
}

#[tokio::test]
async fn repeated_failures_get_429_with_retry_after() {
    let app = spawn_app_with(|s| {
        s.login.max_attempts_per_user = 3;
        s.login.max_attempts_per_ip = 100;
    })
    .await;
    app.add_user("wangli", "grid-password-1", "grid_worker", &[])
        .await;
    for _ in 0..3 {
        let r = app
            .post(
                "/api/auth/login",
                &json!({"username": "wangli", "password": "bad-password"}),
                None,
            )
            .await;
        assert_eq!(r.status(), 401);
    }
    // Even the right password is refused while the username is locked.
    let r = app
        .post(
            "/api/auth/login",
            &json!({"username": "wangli", "password": "grid-password-1"}),
            None,
        )
        .await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 900);
    assert_error(r, 429, "too_many_attempts").await;
}

#[tokio::test]
async fn repeated_failures_from_one_address_get_429() {
    let app = spawn_app_with(|s| {
        s.login.max_attempts_per_user = 100;
        s.login.max_attempts_per_ip = 4;
    })
    .await;
    for i in 0..4 {
        let r = app
            .post(
                "/api/auth/login",
                &json!({"username": format!("user{i}"), "password": "bad-password"}),
                None,
            )
            .await;
        assert_eq!(r.status(), 401);
    }
    let r = app
        .post(
            "/api/auth/login",
            &json!({"username": "other", "password": "bad-password"}),
            None,
        )
        .await;
    assert_error(r, 429, "too_many_attempts").await;
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = spawn_app().await;
    app.add_user("wangli", "grid-password-1", "grid_worker", &[])
        .await;
    let first = app.login("wangli", "grid-password-1").await;
    let r1 = first["refresh_token"].as_str().unwrap();

    let resp = app
        .post("/api/auth/refresh", &json!({"refresh_token": r1}), None)
        .await;
    assert_eq!(resp.status(), 200);
    let second: Value = resp.json().await.unwrap();
    let r2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2);
    assert_eq!(second["user"]["username"], "wangli");
    assert_eq!(
        app.get("/api/me", second["access_token"].as_str())
            .await
            .status(),
        200
    );

    // The rotated token presented again: refused, and the whole login is revoked.
    let reuse = app
        .post("/api/auth/refresh", &json!({"refresh_token": r1}), None)
        .await;
    assert_error(reuse, 401, "invalid_refresh_token").await;
    let after = app
        .post("/api/auth/refresh", &json!({"refresh_token": r2}), None)
        .await;
    assert_error(after, 401, "invalid_refresh_token").await;

    // Another login of the same user is a different family and still works.
    let other = app.login("wangli", "grid-password-1").await;
    let r = app
        .post(
            "/api/auth/refresh",
            &json!({"refresh_token": other["refresh_token"]}),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn unknown_refresh_token_is_401() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/api/auth/refresh",
            &json!({"refresh_token": "made-up"}),
            None,
        )
        .await;
    assert_error(r, 401, "invalid_refresh_token").await;
}

#[tokio::test]
async fn logout_revokes_the_refresh_token() {
    let app = spawn_app().await;
    app.add_user("wangli", "grid-password-1", "grid_worker", &[])
        .await;
    let s = app.login("wangli", "grid-password-1").await;
    let r = app
        .post(
            "/api/auth/logout",
            &json!({"refresh_token": s["refresh_token"]}),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    let again = app
        .post(
            "/api/auth/refresh",
            &json!({"refresh_token": s["refresh_token"]}),
            None,
        )
        .await;
    assert_error(again, 401, "invalid_refresh_token").await;
    // Logging out twice is harmless.
    let r = app
        .post(
            "/api/auth/logout",
            &json!({"refresh_token": s["refresh_token"]}),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn missing_expired_forged_and_alg_none_tokens_are_401() {
    let app = spawn_app().await;
    let user_id = app
        .add_user("wangli", "grid-password-1", "grid_worker", &[])
        .await;

    assert_error(app.get("/api/me", None).await, 401, "unauthorized").await;
    let basic = app
        .client
        .get(app.url("/api/me"))
        .header("Authorization", "Basic d2FuZ2xpOng=")
        .send()
        .await
        .unwrap();
    assert_error(basic, 401, "unauthorized").await;
    assert_error(
        app.get("/api/me", Some("garbage")).await,
        401,
        "invalid_token",
    )
    .await;

    // Expired: signed with the server's real secret, but an hour old.
    let secret = std::fs::read_to_string(app.data_dir.path().join("jwt_secret")).unwrap();
    let keys = JwtKeys::new(&secret.trim().to_owned().into(), 900);
    let now = fangzha::db::now_ms() / 1000;
    let (expired, _) = keys.issue(&user_id, now - 3600).unwrap();
    assert_error(
        app.get("/api/me", Some(&expired)).await,
        401,
        "token_expired",
    )
    .await;
    let (valid, _) = keys.issue(&user_id, now).unwrap();
    assert_eq!(app.get("/api/me", Some(&valid)).await.status(), 200);

    // Forged: right shape, wrong key.
    let forger = JwtKeys::new(&"not-the-servers-secret-at-all-xx".to_owned().into(), 900);
    let (forged, _) = forger.issue(&user_id, now).unwrap();
    assert_error(
        app.get("/api/me", Some(&forged)).await,
        401,
        "invalid_token",
    )
    .await;

    // alg: none with the real user id.
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD
        .encode(json!({"sub": user_id, "iat": now, "exp": now + 900, "jti": "x"}).to_string());
    let none = format!("{header}.{claims}.");
    assert_error(app.get("/api/me", Some(&none)).await, 401, "invalid_token").await;
}

#[tokio::test]
async fn login_body_errors_are_400_json() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/api/auth/login"))
        .header("Content-Type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "invalid_json").await;
    let r = app
        .post("/api/auth/login", &json!({"username": "x"}), None)
        .await;
    let body = assert_error(r, 400, "invalid_request").await;
    assert!(
        body["message"].as_str().unwrap().contains("password"),
        "{body}"
    );
    let r = app
        .client
        .post(app.url("/api/auth/login"))
        .body("username=x")
        .send()
        .await
        .unwrap();
    assert_error(r, 415, "unsupported_media_type").await;
}
