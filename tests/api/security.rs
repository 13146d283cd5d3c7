//! Rate limits, JWT secret rotation, security headers and HTTPS (issue 8).

use std::net::SocketAddr;

use fangzha::auth::jwt::JwtKeys;
use secrecy::SecretString;
use serde_json::json;

use crate::helpers::{TestApp, assert_error, spawn_app, spawn_app_with};
use crate::sync::{Device, setup};

async fn try_login(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    app.post(
        "/api/auth/login",
        &json!({"username": username, "password": password}),
        None,
    )
    .await
}

fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn login_attempts_past_the_limit_get_429_and_other_users_are_not_affected() {
    let app = spawn_app_with(|s| {
        s.login.max_attempts_per_user = 4;
        s.login.max_attempts_per_ip = 1000;
    })
    .await;
    app.add_user("wangli", "grid-password-1", "grid_worker", &[])
        .await;
    app.add_user("zhaomin", "grid-password-2", "grid_worker", &[])
        .await;
    for _ in 0..3 {
        assert_eq!(try_login(&app, "wangli", "wrong").await.status(), 401);
    }
    // The fourth attempt is within the limit (right password); the fifth is not.
    assert_eq!(
        try_login(&app, "wangli", "grid-password-1").await.status(),
        200
    );
    let r = try_login(&app, "WangLi", "grid-password-1").await;
    let wait = retry_after(&r);
    assert!((1..=900).contains(&wait), "Retry-After {wait}");
    let body = assert_error(r, 429, "too_many_attempts").await;
    assert!(body["message"].as_str().unwrap().contains("分钟后再试"));

    // Same address, another username: its own bucket.
    assert_eq!(
        try_login(&app, "zhaomin", "grid-password-2").await.status(),
        200
    );
}

#[tokio::test]
async fn pushes_past_the_device_limit_get_429_and_another_device_goes_on() {
    let app = spawn_app_with(|s| {
        s.push_limits.device_burst = 3;
        s.push_limits.device_per_minute = 1;
    })
    .await;
    setup(&app).await;
    let phone = Device::new(&app, "wangli", "grid-password-1").await;
    for _ in 0..3 {
        assert_eq!(phone.push(&app, vec![]).await.status(), 200);
    }
    let r = phone.push(&app, vec![]).await;
    let wait = retry_after(&r);
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let body = assert_error(r, 429, "rate_limited").await;
    assert!(body["message"].as_str().unwrap().contains("秒后再试"));

    let tablet = Device::new(&app, "wangli", "grid-password-1").await;
    assert_eq!(tablet.push(&app, vec![]).await.status(), 200);
}

#[tokio::test]
async fn pushes_past_the_user_limit_get_429_on_every_device() {
    let app = spawn_app_with(|s| {
        s.push_limits.user_burst = 2;
        s.push_limits.user_per_minute = 1;
    })
    .await;
    setup(&app).await;
    let phone = Device::new(&app, "wangli", "grid-password-1").await;
    let tablet = Device::new(&app, "wangli", "grid-password-1").await;
    assert_eq!(phone.push(&app, vec![]).await.status(), 200);
    assert_eq!(tablet.push(&app, vec![]).await.status(), 200);
    assert_error(tablet.push(&app, vec![]).await, 429, "rate_limited").await;
    assert_error(phone.push(&app, vec![]).await, 429, "rate_limited").await;
}

const OLD_SECRET: &str = "old-jwt-secret-old-jwt-secret-0123";
const NEW_SECRET: &str = "new-jwt-secret-new-jwt-secret-4567";

#[tokio::test]
async fn tokens_of_a_previous_secret_are_accepted_only_while_it_is_listed() {
    let rotating = spawn_app_with(|s| {
        s.jwt_secret = Some(NEW_SECRET.to_owned().into());
        s.jwt_previous_secrets = vec![OLD_SECRET.to_owned().into()];
    })
    .await;
    let user_id = rotating
        .add_user("wangli", "grid-password-1", "grid_worker", &[])
        .await;
    let now = fangzha::db::now_ms() / 1000;
    let old_keys = JwtKeys::new(&SecretString::from(OLD_SECRET), 900);
    let (old_token, _) = old_keys.issue(&user_id, now).unwrap();
    assert_eq!(
        rotating.get("/api/me", Some(&old_token)).await.status(),
        200
    );

    // New logins are signed with the new secret only.
    let fresh = rotating.login("wangli", "grid-password-1").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let new_keys = JwtKeys::new(&SecretString::from(NEW_SECRET), 900);
    assert_eq!(new_keys.verify(&fresh).unwrap().sub, user_id);
    assert!(old_keys.verify(&fresh).is_err());

    // Once the old secret is dropped from the list, its tokens are refused.
    let rotated = spawn_app_with(|s| s.jwt_secret = Some(NEW_SECRET.to_owned().into())).await;
    let user_id = rotated
        .add_user("wangli", "grid-password-1", "grid_worker", &[])
        .await;
    let (old_token, _) = old_keys.issue(&user_id, now).unwrap();
    assert_error(
        rotated.get("/api/me", Some(&old_token)).await,
        401,
        "invalid_token",
    )
    .await;
    let (new_token, _) = new_keys.issue(&user_id, now).unwrap();
    assert_eq!(rotated.get("/api/me", Some(&new_token)).await.status(), 200);
}

fn assert_security_headers(r: &reqwest::Response, what: &str) {
    let h = r.headers();
    let csp = h
        .get("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no CSP"))
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'self'"), "{what}: {csp}");
    assert!(csp.contains("script-src 'self';"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(
        csp.contains("img-src 'self' blob: data: https://tiles.example.cn;"),
        "{what}: {csp}"
    );
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(h["x-frame-options"], "DENY", "{what}");
    let permissions = h["permissions-policy"].to_str().unwrap();
    assert!(permissions.contains("camera=(self)"), "{what}");
    assert!(permissions.contains("geolocation=(self)"), "{what}");
    assert!(
        h.get("strict-transport-security").is_none(),
        "{what}: HSTS only over HTTPS"
    );
}

#[tokio::test]
async fn the_app_page_and_api_answers_carry_the_security_headers() {
    let app = spawn_app_with(|s| {
        s.map_tile_url = Some("https://tiles.example.cn/{z}/{x}/{y}.png".into());
    })
    .await;
    let page = app.get("/", None).await;
    assert_eq!(page.status(), 200);
    assert_security_headers(&page, "app page");
    let route = app.get("/households/some-id", None).await;
    assert_security_headers(&route, "app route");
    let health = app.get("/healthz", None).await;
    assert_security_headers(&health, "healthz");
    let unauthorized = app.get("/api/me", None).await;
    assert_eq!(unauthorized.status(), 401);
    assert_security_headers(&unauthorized, "API error");
}

#[tokio::test]
async fn serves_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pair = rcgen::generate_simple_self_signed(vec!["fangzha.test".into()]).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, pair.cert.pem()).unwrap();
    std::fs::write(&key, pair.signing_key.serialize_pem()).unwrap();
    let app = spawn_app_with(|s| {
        s.tls_cert = Some(cert.clone());
        s.tls_key = Some(key.clone());
    })
    .await;
    let port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(pair.cert.pem().as_bytes()).unwrap())
        .resolve("fangzha.test", SocketAddr::from(([127, 0, 0, 1], port)))
        .build()
        .unwrap();
    let r = client
        .get(format!("https://fangzha.test:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");

    // Plain HTTP on the TLS port gets no answer, and an untrusting client fails.
    assert!(app.client.get(app.url("/healthz")).send().await.is_err());
    let untrusting = reqwest::Client::builder()
        .use_rustls_tls()
        .resolve("fangzha.test", SocketAddr::from(([127, 0, 0, 1], port)))
        .build()
        .unwrap();
    assert!(
        untrusting
            .get(format!("https://fangzha.test:{port}/healthz"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn default_limits_let_a_phone_push_a_backlog() {
    // 40 batches back to back (20,000 mutations at 500 a batch) pass the default limits.
    let app = spawn_app().await;
    setup(&app).await;
    let phone = Device::new(&app, "wangli", "grid-password-1").await;
    for i in 0..40 {
        assert_eq!(phone.push(&app, vec![]).await.status(), 200, "push {i}");
    }
}
