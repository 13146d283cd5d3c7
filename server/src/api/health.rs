//! `/healthz` and `/metrics`.

use actix_web::{HttpRequest, HttpResponse, web};
use diesel::connection::SimpleConnection;
use secrecy::ExposeSecret;
use serde_json::json;

use crate::auth::extract::bearer;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// 200 `{"status":"ok"}` when the database answers, 503 otherwise.
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let ok = db::run(&state.pool, |conn| Ok(conn.batch_execute("SELECT 1")?)).await;
    match ok {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ok"})),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            HttpResponse::ServiceUnavailable().json(json!({
                "status": "unavailable", "error": "database_unavailable", "message": "数据库无响应"
            }))
        }
    }
}

/// Prometheus text; guarded by a token when `metrics_token` is set.
pub async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    if let Some(token) = &state.settings.metrics_token
        && bearer(&req).as_deref() != Some(token.expose_secret())
    {
        return Err(ApiError::unauthorized("unauthorized", "需要监控令牌"));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(&state.pool)))
}
