//! `/api/admin/*`: areas and accounts. Admin role only (the `AdminUser` extractor).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::views::{AreaView, AssignmentView, UserView};
use crate::auth::AdminUser;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::services::accounts::{self, NewUser};
use crate::services::areas::{self, AreaPatch, NewArea};
use crate::state::AppState;

/// `POST /api/admin/areas` → 201.
pub async fn create_area(
    admin: AdminUser,
    state: web::Data<AppState>,
    body: web::Json<NewArea>,
) -> ApiResult<HttpResponse> {
    let input = body.into_inner();
    let row = db::run_tx(&state.pool, move |conn| {
        areas::create(conn, input, Some(&admin.0.id))
    })
    .await?;
    Ok(HttpResponse::Created().json(AreaView::from(row)))
}

/// `GET /api/admin/areas` → every area.
pub async fn list_areas(_: AdminUser, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let rows = db::run(&state.pool, |conn| Ok(db::areas::list(conn)?)).await?;
    let views: Vec<AreaView> = rows.into_iter().map(AreaView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}

/// `GET /api/admin/areas/{id}`.
pub async fn get_area(
    _: AdminUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let row = db::run(&state.pool, move |conn| Ok(db::areas::get(conn, &id)?))
        .await?
        .ok_or_else(|| ApiError::not_found("区域不存在"))?;
    Ok(HttpResponse::Ok().json(AreaView::from(row)))
}

/// `PATCH /api/admin/areas/{id}`: name, boundary, QR link, WeChat group.
pub async fn update_area(
    admin: AdminUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<AreaPatch>,
) -> ApiResult<HttpResponse> {
    let (id, patch) = (id.into_inner(), body.into_inner());
    let row = db::run_tx(&state.pool, move |conn| {
        areas::update(conn, &id, patch, Some(&admin.0.id))
    })
    .await?;
    Ok(HttpResponse::Ok().json(AreaView::from(row)))
}

/// `POST /api/admin/users` → 201.
pub async fn create_user(
    admin: AdminUser,
    state: web::Data<AppState>,
    body: web::Json<NewUser>,
) -> ApiResult<HttpResponse> {
    let (user, areas) = accounts::create(&state.pool, body.into_inner(), Some(admin.0.id)).await?;
    Ok(HttpResponse::Created().json(UserView::new(user, areas)))
}

/// `GET /api/admin/users` → every account with its current areas (never a password hash).
pub async fn list_users(_: AdminUser, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let (users, assignments, all_areas) = db::run(&state.pool, |conn| {
        Ok((
            db::users::list(conn)?,
            db::users::all_current_areas(conn)?,
            db::areas::list(conn)?,
        ))
    })
    .await?;
    let views: Vec<UserView> = users
        .into_iter()
        .map(|u| {
            let areas = assignments
                .iter()
                .filter(|(user_id, _)| *user_id == u.id)
                .filter_map(|(_, area_id)| all_areas.iter().find(|a| a.id == *area_id).cloned())
                .collect();
            UserView::new(u, areas)
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

/// `GET /api/admin/users/{id}` → the account with its assignment history.
pub async fn get_user(
    _: AdminUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let (user, areas, history) = db::run(&state.pool, move |conn| {
        let user = db::users::get(conn, &id)?.ok_or_else(|| ApiError::not_found("用户不存在"))?;
        let areas = crate::auth::session::user_areas(conn, &id)?;
        let history = db::users::assignment_history(conn, &id)?;
        Ok((user, areas, history))
    })
    .await?;
    let mut body = serde_json::to_value(UserView::new(user, areas)).map_err(anyhow::Error::from)?;
    body["assignment_history"] = json!(
        history
            .into_iter()
            .map(AssignmentView::from)
            .collect::<Vec<_>>()
    );
    Ok(HttpResponse::Ok().json(body))
}

/// Body of a reassignment.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AreasBody {
    areas: Vec<String>,
}

/// `PUT /api/admin/users/{id}/areas` → 200, effective at once.
pub async fn set_user_areas(
    admin: AdminUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<AreasBody>,
) -> ApiResult<HttpResponse> {
    let (user, areas) = accounts::set_areas(
        &state.pool,
        id.into_inner(),
        body.into_inner().areas,
        Some(admin.0.id),
    )
    .await?;
    Ok(HttpResponse::Ok().json(UserView::new(user, areas)))
}

/// `?limit=` of the audit listing.
#[derive(Deserialize)]
pub struct AuditQuery {
    limit: Option<i64>,
}

/// `GET /api/audit`: the newest administrative actions and the access log of full personal
/// values (who saw which record, when, why). Admins only.
pub async fn audit(
    _: AdminUser,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> ApiResult<HttpResponse> {
    let limit = query.limit.unwrap_or(200).clamp(1, 5000);
    let (audit, access) = db::run(&state.pool, move |conn| {
        Ok((
            db::audit::recent(conn, limit)?,
            db::personal::recent_access(conn, limit)?,
        ))
    })
    .await?;
    let audit: Vec<serde_json::Value> = audit
        .into_iter()
        .map(|e| {
            json!({
                "id": e.id, "at_ms": e.at_ms, "actor_id": e.actor_id, "action": e.action,
                "target_kind": e.target_kind, "target_id": e.target_id,
                "detail": e.detail.and_then(|d| serde_json::from_str::<serde_json::Value>(&d).ok()),
                "ip": e.ip,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "audit": audit, "access": access })))
}
