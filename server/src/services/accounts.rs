//! Creating accounts and (re)assigning their areas.

use serde::Deserialize;

use crate::auth::password;
use crate::db::areas::{self, AreaRow};
use crate::db::audit::{self, NewEntry};
use crate::db::users::{self, UserRow};
use crate::db::{self, DbConn, Pool, now_ms};
use crate::domain::account::{self, Role};
use crate::error::{ApiError, ApiResult};

/// An account to create (`POST /api/admin/users`, `fangzha user add`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// Initial password.
    pub password: String,
    /// Display name; the username when absent.
    pub name: Option<String>,
    /// One of the roles.
    pub role: String,
    /// Area ids held from now on.
    #[serde(default)]
    pub areas: Vec<String>,
}

fn rule(field: &str) -> impl Fn(account::RuleError) -> ApiError + '_ {
    move |(code, msg)| ApiError::bad_request(code, msg).with("field", field)
}

/// Validates, hashes the password off the async threads, and inserts the account with its
/// areas in one transaction. 409 `username_taken` for a duplicate.
pub async fn create(
    pool: &Pool,
    input: NewUser,
    actor: Option<String>,
) -> ApiResult<(UserRow, Vec<AreaRow>)> {
    let (role, name) = check(&input)?;
    let password = input.password.clone();
    let hash = password::run(move || password::hash(&password)).await??;
    db::run_tx(pool, move |conn| {
        insert(conn, input, role, &name, hash, actor.as_deref())
    })
    .await
}

/// Checks an account's username, password, name and role (not its areas, which need the
/// database); returns the role and the display name.
pub fn check(input: &NewUser) -> ApiResult<(Role, String)> {
    account::check_username(&input.username).map_err(rule("username"))?;
    account::check_password(&input.password).map_err(rule("password"))?;
    let name = input.name.clone().unwrap_or_else(|| input.username.clone());
    account::check_name(&name).map_err(rule("name"))?;
    let role = Role::parse(&input.role).ok_or_else(|| {
        ApiError::invalid_field(
            "role",
            "角色必须是 admin、cadre、grid_worker、police 或 viewer",
        )
    })?;
    Ok((role, name))
}

/// Inserts an account checked by [`check`], whose password is already hashed, with its areas
/// and an audit entry, inside the caller's transaction (one account, or a whole import).
pub fn insert(
    conn: &mut DbConn,
    input: NewUser,
    role: Role,
    name: &str,
    hash: String,
    actor: Option<&str>,
) -> ApiResult<(UserRow, Vec<AreaRow>)> {
    let area_ids = dedup(input.areas);
    check_areas(conn, &area_ids)?;
    if users::by_username(conn, &input.username)?.is_some() {
        return Err(username_taken());
    }
    let now = now_ms();
    let row = UserRow {
        id: uuid::Uuid::now_v7().to_string(),
        username: input.username,
        name: name.trim().to_owned(),
        role: role.as_str().to_owned(),
        password_hash: hash,
        disabled: false,
        created_at_ms: now,
        updated_at_ms: now,
    };
    users::insert(conn, &row).map_err(|e| {
        if db::is_unique_violation(&e) {
            username_taken()
        } else {
            e.into()
        }
    })?;
    users::set_areas(conn, &row.id, &row.role, &area_ids, actor, now)?;
    audit::record(
        conn,
        &NewEntry::new(actor, "user_created")
            .target("user", &row.id)
            .detail(
                serde_json::json!({"username": row.username, "role": row.role, "areas": area_ids}),
            ),
    )?;
    let areas = crate::auth::session::user_areas(conn, &row.id)?;
    Ok((row, areas))
}

/// Replaces a user's current areas, effective at once. 404 for an unknown user.
pub async fn set_areas(
    pool: &Pool,
    user_id: String,
    areas: Vec<String>,
    actor: Option<String>,
) -> ApiResult<(UserRow, Vec<AreaRow>)> {
    let area_ids = dedup(areas);
    db::run_tx(pool, move |conn| {
        let user = users::get(conn, &user_id)?.ok_or_else(|| ApiError::not_found("用户不存在"))?;
        check_areas(conn, &area_ids)?;
        let (opened, closed) = users::set_areas(
            conn,
            &user.id,
            &user.role,
            &area_ids,
            actor.as_deref(),
            now_ms(),
        )?;
        audit::record(
            conn,
            &NewEntry::new(actor.as_deref(), "user_areas_changed")
                .target("user", &user.id)
                .detail(serde_json::json!({"added": opened, "removed": closed})),
        )?;
        let areas = crate::auth::session::user_areas(conn, &user.id)?;
        Ok((user, areas))
    })
    .await
}

fn username_taken() -> ApiError {
    ApiError::conflict("username_taken", "用户名已被使用").with("field", "username")
}

fn dedup(ids: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

fn check_areas(conn: &mut DbConn, ids: &[String]) -> ApiResult<()> {
    let found = areas::by_ids(conn, ids)?;
    if let Some(missing) = ids.iter().find(|id| !found.iter().any(|a| &a.id == *id)) {
        return Err(
            ApiError::bad_request("unknown_area", format!("区域不存在：{missing}"))
                .with("field", "areas"),
        );
    }
    Ok(())
}
