//! `/api/sync/push`, `/api/sync/pull`, and a record's history and reveal under
//! `/api/records/{entity}/{id}/`.

use std::time::Instant;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::AuthUser;
use crate::db::personal::NewAccess;
use crate::db::{self, now_ms};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::sync::pull::{self, PullRequest};
use crate::sync::push::{self, PushRequest};
use crate::sync::scopes::{Access, AreaTree};
use crate::sync::{entities, view, write};

/// `POST /api/sync/push`.
pub async fn push(
    user: AuthUser,
    state: web::Data<AppState>,
    body: web::Json<PushRequest>,
) -> ApiResult<HttpResponse> {
    let started = Instant::now();
    let req = body.into_inner();
    let now = now_ms();
    let mids = push::check_batch(&req, now)?;
    // After the cheap shape checks, so the key is a valid client id, before any database work.
    state.push_guard.check(&user.id, &req.client_id)?;
    let st = state.clone();
    let resp = db::run(&state.pool, move |conn| {
        // Two batches whose flag work reaches into each other's grids (a duplicate tenant)
        // can deadlock on PostgreSQL; the loser was rolled back whole, so run it again.
        let mut attempt = 0;
        loop {
            match push::apply_batch(conn, &st.sync, &user, &req, &mids, now) {
                Err(e) if attempt < 3 && db::is_retryable(&e) => {
                    attempt += 1;
                    tracing::warn!(attempt, error = %e, "push lost a lock race; retrying");
                    let pause = 20 * attempt + rand::random_range(0..30);
                    std::thread::sleep(std::time::Duration::from_millis(pause));
                }
                result => break result,
            }
        }
    })
    .await?;
    state
        .metrics
        .observe_push(&resp.results, started.elapsed().as_secs_f64());
    Ok(HttpResponse::Ok().json(resp))
}

/// `POST /api/sync/pull`.
pub async fn pull(
    user: AuthUser,
    state: web::Data<AppState>,
    body: web::Json<PullRequest>,
) -> ApiResult<HttpResponse> {
    let started = Instant::now();
    let req = body.into_inner();
    let st = state.clone();
    let resp = db::run(&state.pool, move |conn| {
        pull::pull(conn, &st.sync, &user, &req, now_ms())
    })
    .await?;
    state
        .metrics
        .observe_pull(resp.changes.len(), started.elapsed().as_secs_f64());
    Ok(HttpResponse::Ok().json(resp))
}

/// A record this user may see (its scope is theirs, its entity and contents visible to
/// their role); anything else is 404, so nobody learns what exists beyond their areas.
fn visible_record(
    conn: &mut db::DbConn,
    user: &AuthUser,
    entity: &entities::Entity,
    id: &str,
) -> ApiResult<db::records::RecordRow> {
    let record = db::records::get(conn, id)?.filter(|r| r.entity == entity.name);
    let tree = AreaTree::load(conn)?;
    let access = Access::load(conn, &user.id, user.role, &tree)?;
    record
        .filter(|r| {
            access.current().contains(&r.scope) && entity.record_visible_to(user.role, &r.fields)
        })
        .ok_or_else(|| ApiError::not_found("记录不存在"))
}

/// One entry of a record's history.
#[derive(Serialize)]
struct HistoryEntry {
    field: String,
    value: Value,
    hlc: String,
    /// Became current when it arrived.
    won: bool,
    /// Was current once and has since been replaced by a newer value.
    superseded: bool,
    user_id: Option<String>,
    user_name: Option<String>,
    client_id: Option<String>,
    at_ms: i64,
}

/// `GET /api/records/{entity}/{id}/history`: every value that arrived, winners and losers,
/// for users who may see the record; others get 404.
pub async fn history(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (entity_name, id) = path.into_inner();
    let entity = entities::entity(&entity_name)
        .filter(|e| e.visible_to(user.role))
        .ok_or_else(|| ApiError::not_found("记录不存在"))?;
    let role = user.role;
    let reader = user.id.clone();
    let record_id = id.clone();
    let (rows, names) = db::run(&state.pool, move |conn| {
        let record = visible_record(conn, &user, entity, &id)?;
        let rows = db::records::history(conn, &record.id)?;
        let mut names = std::collections::HashMap::new();
        for uid in rows.iter().filter_map(|r| r.user_id.clone()) {
            if !names.contains_key(&uid)
                && let Some(u) = db::users::get(conn, &uid)?
            {
                names.insert(uid, u.name);
            }
        }
        Ok((rows, names))
    })
    .await?;
    let mut delivered = std::collections::BTreeSet::new();
    let entries: Vec<HistoryEntry> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| !entities::hidden_from(role, entity.name, &r.field))
        .map(|(i, r)| {
            let stored: Value = r
                .value
                .as_deref()
                .and_then(|v| serde_json::from_str(v).ok())
                .unwrap_or(Value::Null);
            let value = view::present_value(&state.sync.cipher, role, entity, &r.field, stored);
            if entities::sees_full_values(role)
                && value.is_string()
                && entity.field(&r.field).is_some_and(entities::is_sensitive)
            {
                delivered.insert(r.field.clone());
            }
            let superseded = r.won
                && rows[i + 1..]
                    .iter()
                    .any(|later| later.won && later.field == r.field && later.hlc > r.hlc);
            HistoryEntry {
                field: r.field.clone(),
                value,
                hlc: r.hlc.clone(),
                won: r.won,
                superseded,
                user_name: r.user_id.as_ref().and_then(|u| names.get(u).cloned()),
                user_id: r.user_id.clone(),
                client_id: r.client_id.clone(),
                at_ms: r.at_ms,
            }
        })
        .collect();
    if !delivered.is_empty() {
        let entry = NewAccess {
            at_ms: now_ms(),
            user_id: reader,
            record_id: record_id.clone(),
            entity: entity.name.to_owned(),
            fields: delivered.into_iter().collect::<Vec<_>>().join(","),
            purpose: "history".into(),
        };
        db::run(&state.pool, move |conn| {
            Ok(db::personal::log_access(conn, &[entry])?)
        })
        .await?;
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "entity": entity.name,
        "id": record_id,
        "entries": entries,
    })))
}

/// Body of a reveal: why the full values are needed, kept in the access log.
#[derive(Deserialize)]
pub struct RevealRequest {
    purpose: String,
}

/// `POST /api/records/{entity}/{id}/reveal` `{"purpose"}`: the full ID numbers and phones
/// of one record, for police and admins (others 403), each delivery written to the access
/// log with its purpose. Desk screens show masked values until an officer asks.
pub async fn reveal(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<RevealRequest>,
) -> ApiResult<HttpResponse> {
    if !entities::sees_full_values(user.role) {
        return Err(ApiError::new(
            actix_web::http::StatusCode::FORBIDDEN,
            "forbidden",
            "只有民警和管理员可以查看完整的身份证号和手机号",
        ));
    }
    let purpose = body.into_inner().purpose.trim().to_owned();
    if purpose.chars().count() < 2
        || purpose.chars().count() > 200
        || purpose.chars().any(char::is_control)
    {
        return Err(ApiError::invalid_field(
            "purpose",
            "请写明查看完整信息的用途（2 到 200 字）",
        ));
    }
    let (entity_name, id) = path.into_inner();
    let entity = entities::entity(&entity_name)
        .filter(|e| e.visible_to(user.role))
        .ok_or_else(|| ApiError::not_found("记录不存在"))?;
    let record_id = id.clone();
    let st = state.clone();
    let fields = db::run(&state.pool, move |conn| {
        let record = visible_record(conn, &user, entity, &id)?;
        let stored: serde_json::Map<String, Value> =
            serde_json::from_str(&record.fields).unwrap_or_default();
        let full: serde_json::Map<String, Value> = stored
            .into_iter()
            .filter(|(name, value)| {
                !value.is_null() && entity.field(name).is_some_and(entities::is_sensitive)
            })
            .map(|(name, value)| {
                let open = write::open_value(&st.sync.cipher, entity.name, &name, value);
                (name, open)
            })
            .collect();
        if !full.is_empty() {
            let entry = NewAccess {
                at_ms: now_ms(),
                user_id: user.id.clone(),
                record_id: record.id.clone(),
                entity: entity.name.to_owned(),
                fields: full.keys().cloned().collect::<Vec<_>>().join(","),
                purpose: format!("reveal: {purpose}"),
            };
            db::personal::log_access(conn, &[entry])?;
        }
        Ok(full)
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "entity": entity_name,
        "id": record_id,
        "fields": fields,
    })))
}
