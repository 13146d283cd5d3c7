use serde_json::Value;

use crate::helpers::{assert_error, spawn_app};

#[tokio::test]
async fn healthz_reports_ok() {
    let app = spawn_app().await;
    let resp = app.get("/healthz", None).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-request-id"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn metrics_count_requests_by_route() {
    let app = spawn_app().await;
    app.get("/healthz", None).await;
    let text = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        text.contains(
            r#"fangzha_http_requests_total{method="GET",route="/healthz",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("fangzha_http_request_duration_seconds_bucket"));
    assert!(text.contains("fangzha_db_pool_max_connections 4"));
}

#[tokio::test]
async fn metrics_token_is_enforced_when_set() {
    let app = fangzha_app_with_metrics_token().await;
    assert_eq!(app.get("/metrics", None).await.status(), 401);
    assert_eq!(
        app.get("/metrics", Some("s3cret-metrics")).await.status(),
        200
    );
}

async fn fangzha_app_with_metrics_token() -> crate::helpers::TestApp {
    crate::helpers::spawn_app_with(|s| s.metrics_token = Some("s3cret-metrics".to_owned().into()))
        .await
}

#[tokio::test]
async fn unknown_api_path_is_json_404() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    assert_error(
        app.get("/api/no/such/thing", Some(&token)).await,
        404,
        "not_found",
    )
    .await;
    assert_error(app.get("/api/nothing", None).await, 404, "not_found").await;
}

#[tokio::test]
async fn wrong_method_is_json_405() {
    let app = spawn_app().await;
    assert_error(
        app.get("/api/auth/login", None).await,
        405,
        "method_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn app_shell_is_served_with_spa_fallback_and_cache_rules() {
    let app = spawn_app().await;
    let index = app.get("/", None).await;
    assert_eq!(index.status(), 200);
    assert_eq!(index.headers()["cache-control"], "no-cache");
    let html = index.text().await.unwrap();
    assert!(html.contains("lang=\"zh-CN\""), "{html}");

    let deep = app.get("/households/123", None).await;
    assert_eq!(deep.status(), 200);
    assert!(deep.text().await.unwrap().contains("lang=\"zh-CN\""));

    let manifest = app.get("/manifest.webmanifest", None).await;
    assert_eq!(manifest.status(), 200);
    assert_eq!(
        manifest.headers()["content-type"],
        "application/manifest+json"
    );
    let m: Value = manifest.json().await.unwrap();
    assert_eq!(m["lang"], "zh-CN");
    let sizes: Vec<&str> = m["icons"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["sizes"].as_str())
        .collect();
    assert!(
        sizes.contains(&"192x192") && sizes.contains(&"512x512"),
        "{m}"
    );
    assert!(m["icons"].as_array().unwrap().iter().any(|i| {
        i["purpose"]
            .as_str()
            .is_some_and(|p| p.contains("maskable"))
    }));

    let sw = app.get("/sw.js", None).await;
    assert_eq!(sw.status(), 200);
    assert_eq!(sw.headers()["cache-control"], "no-cache");

    // A hashed asset referenced by index.html is immutable and revalidates by ETag.
    let asset = html
        .split('"')
        .find(|s| s.starts_with("/assets/") && s.ends_with(".js"))
        .expect("index.html references a hashed script")
        .to_owned();
    let resp = app.get(&asset, None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    let again = app
        .client
        .get(app.url(&asset))
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(app.get("/assets/missing-0000.js", None).await.status(), 404);
}
