//! `/api/auth/*` and `/api/me`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::client_ip;
use super::views::UserView;
use crate::auth::AuthUser;
use crate::auth::session::{self, Session};
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Login body.
#[derive(Deserialize)]
pub struct LoginRequest {
    username: String,
    password: String,
    device_name: Option<String>,
}

/// Refresh and logout body.
#[derive(Deserialize)]
pub struct RefreshRequest {
    refresh_token: String,
}

fn session_json(s: Session) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({
            "access_token": s.access_token,
            "refresh_token": s.refresh_token,
            "token_type": "Bearer",
            "expires_in": s.expires_in,
            "user": UserView::new(s.user, s.areas),
        }))
}

/// `POST /api/auth/login`.
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LoginRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    if body.username.trim().is_empty() || body.password.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "请输入用户名和密码",
        ));
    }
    if body.username.len() > 64
        || body.password.len() > 1024
        || body.username.chars().any(char::is_control)
    {
        return Err(ApiError::unauthorized(
            "invalid_credentials",
            "用户名或密码错误",
        ));
    }
    let device_name = body.device_name.map(|d| {
        d.chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect::<String>()
    });
    let ip = client_ip(&req, &state);
    let s = session::login(
        &state,
        body.username.trim().to_owned(),
        body.password,
        device_name,
        ip,
    )
    .await?;
    Ok(session_json(s))
}

/// `POST /api/auth/refresh`.
pub async fn refresh(
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    let s = session::refresh(&state, body.into_inner().refresh_token).await?;
    Ok(session_json(s))
}

/// `POST /api/auth/logout`: 204 whether or not the token was live.
pub async fn logout(
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    session::logout(&state, body.into_inner().refresh_token).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/me`: the caller with their current areas.
pub async fn me(user: AuthUser, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let (row, areas) = db::run(&state.pool, move |conn| {
        let row = db::users::get(conn, &user.id)?
            .ok_or_else(|| ApiError::unauthorized("invalid_token", "账号不存在"))?;
        let areas = session::user_areas(conn, &user.id)?;
        Ok((row, areas))
    })
    .await?;
    Ok(HttpResponse::Ok().json(UserView::new(row, areas)))
}
