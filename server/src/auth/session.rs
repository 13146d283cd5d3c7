//! Login, refresh-token rotation and logout.
//!
//! A refresh token is 32 random bytes; only its SHA-256 is stored. Each use rotates it: the
//! old one is marked used and a new one of the same family is issued. Presenting a used
//! token again means it was copied, so the whole family (that login on every device it
//! reached) is revoked — no grace period, as SYNC.md requires.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::auth::password;
use crate::db::areas::AreaRow;
use crate::db::audit::{self, NewEntry};
use crate::db::tokens::{self, RefreshRow};
use crate::db::users::{self, UserRow};
use crate::db::{self, DbConn, now_ms};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// A signed-in session handed to the client.
pub struct Session {
    /// Access token (JWT).
    pub access_token: String,
    /// Refresh token (opaque).
    pub refresh_token: String,
    /// Access token lifetime, seconds.
    pub expires_in: u64,
    /// The account.
    pub user: UserRow,
    /// The areas it holds now.
    pub areas: Vec<AreaRow>,
}

fn invalid_refresh() -> ApiError {
    ApiError::unauthorized("invalid_refresh_token", "登录已失效，请重新登录")
}

/// SHA-256 hex of a refresh token, the form stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_refresh_token() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    URL_SAFE_NO_PAD.encode(raw)
}

/// Checks a username and password and opens a session.
pub async fn login(
    state: &AppState,
    username: String,
    password: String,
    device_name: Option<String>,
    ip: String,
) -> ApiResult<Session> {
    if let Err(wait) = state.login_guard.check(&username, &ip) {
        return Err(ApiError::too_many(
            "too_many_attempts",
            format!("登录尝试过于频繁，请等待 {} 分钟后再试", wait.div_ceil(60)),
            wait,
        ));
    }
    let lookup = username.clone();
    let user = db::run(&state.pool, move |conn| {
        Ok(users::by_username(conn, &lookup)?)
    })
    .await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let ok = password::run(move || match stored {
        Some(hash) => password::verify(&password, &hash),
        None => {
            password::verify_dummy(&password);
            false
        }
    })
    .await?;
    let user = match user.filter(|u| ok && !u.disabled) {
        Some(u) => u,
        None => {
            let entry = NewEntry::new(None, "login_failed")
                .detail(serde_json::json!({"username": username}))
                .ip(Some(ip));
            db::run(&state.pool, move |conn| Ok(audit::record(conn, &entry)?)).await?;
            return Err(ApiError::unauthorized(
                "invalid_credentials",
                "用户名或密码错误",
            ));
        }
    };
    let ttl_ms = refresh_ttl_ms(state);
    let (session_user, areas, refresh) = db::run_tx(&state.pool, move |conn| {
        let family = uuid::Uuid::now_v7().to_string();
        let refresh = issue_refresh(conn, &user.id, &family, device_name, ttl_ms)?;
        let entry = NewEntry::new(Some(&user.id), "login")
            .target("user", &user.id)
            .ip(Some(ip));
        audit::record(conn, &entry)?;
        let areas = user_areas(conn, &user.id)?;
        Ok((user, areas, refresh))
    })
    .await?;
    finish(state, session_user, areas, refresh)
}

enum RefreshOutcome {
    Rotated(UserRow, Vec<AreaRow>, String),
    Invalid,
}

/// Exchanges a refresh token for a new pair.
pub async fn refresh(state: &AppState, token: String) -> ApiResult<Session> {
    let hash = token_hash(&token);
    let ttl_ms = refresh_ttl_ms(state);
    let outcome = db::run_tx(&state.pool, move |conn| {
        let now = now_ms();
        let Some(row) = tokens::by_hash(conn, &hash)? else {
            return Ok(RefreshOutcome::Invalid);
        };
        if row.revoked_at_ms.is_some() || row.expires_at_ms <= now {
            return Ok(RefreshOutcome::Invalid);
        }
        if row.rotated_at_ms.is_some() || !tokens::claim_for_rotation(conn, &row.id, now)? {
            // Reuse of a rotated token: revoke the family and commit that, then refuse.
            let revoked = tokens::revoke_family(conn, &row.family_id, now)?;
            let entry = NewEntry::new(Some(&row.user_id), "refresh_token_reuse")
                .target("user", &row.user_id)
                .detail(serde_json::json!({"family": row.family_id, "revoked": revoked}));
            audit::record(conn, &entry)?;
            tracing::warn!(user = %row.user_id, family = %row.family_id, "refresh token reused; family revoked");
            return Ok(RefreshOutcome::Invalid);
        }
        let Some(user) = users::get(conn, &row.user_id)?.filter(|u| !u.disabled) else {
            tokens::revoke_family(conn, &row.family_id, now)?;
            return Ok(RefreshOutcome::Invalid);
        };
        let refresh = issue_refresh(conn, &user.id, &row.family_id, row.device_name, ttl_ms)?;
        let areas = user_areas(conn, &user.id)?;
        Ok(RefreshOutcome::Rotated(user, areas, refresh))
    })
    .await?;
    match outcome {
        RefreshOutcome::Rotated(user, areas, refresh) => finish(state, user, areas, refresh),
        RefreshOutcome::Invalid => Err(invalid_refresh()),
    }
}

/// Ends the login the refresh token belongs to; unknown tokens are ignored (idempotent).
pub async fn logout(state: &AppState, token: String) -> ApiResult<()> {
    let hash = token_hash(&token);
    db::run_tx(&state.pool, move |conn| {
        if let Some(row) = tokens::by_hash(conn, &hash)? {
            tokens::revoke_family(conn, &row.family_id, now_ms())?;
            audit::record(
                conn,
                &NewEntry::new(Some(&row.user_id), "logout").target("user", &row.user_id),
            )?;
        }
        Ok(())
    })
    .await
}

/// The areas a user holds now, as rows.
pub fn user_areas(conn: &mut DbConn, user_id: &str) -> ApiResult<Vec<AreaRow>> {
    let ids = users::current_area_ids(conn, user_id)?;
    let mut rows = db::areas::by_ids(conn, &ids)?;
    rows.sort_by_key(|r| ids.iter().position(|i| *i == r.id));
    Ok(rows)
}

fn refresh_ttl_ms(state: &AppState) -> i64 {
    state.settings.refresh_token_ttl_days as i64 * 24 * 3600 * 1000
}

fn issue_refresh(
    conn: &mut DbConn,
    user_id: &str,
    family: &str,
    device_name: Option<String>,
    ttl_ms: i64,
) -> ApiResult<String> {
    let token = new_refresh_token();
    let now = now_ms();
    tokens::insert(
        conn,
        &RefreshRow {
            id: uuid::Uuid::now_v7().to_string(),
            family_id: family.to_owned(),
            user_id: user_id.to_owned(),
            token_hash: token_hash(&token),
            device_name,
            issued_at_ms: now,
            expires_at_ms: now + ttl_ms,
            rotated_at_ms: None,
            revoked_at_ms: None,
        },
    )?;
    Ok(token)
}

fn finish(
    state: &AppState,
    user: UserRow,
    areas: Vec<AreaRow>,
    refresh_token: String,
) -> ApiResult<Session> {
    let (access_token, expires_in) = state.jwt.issue(&user.id, now_ms() / 1000)?;
    Ok(Session {
        access_token,
        refresh_token,
        expires_in,
        user,
        areas,
    })
}
