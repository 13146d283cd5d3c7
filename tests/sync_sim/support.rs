//! Shared fixtures: a fresh database (SQLite file in a temp dir, or a new PostgreSQL
//! database when `TEST_DATABASE_URL` is set, dropped after), a "server" made of a pool and
//! the server HLC clock that can be restarted, and direct (no HTTP) setup of areas and users.

use diesel::r2d2::PooledConnection;
use fangzha::auth::AuthUser;
use fangzha::crypto::FieldCipher;
use fangzha::db::records::RecordRow;
use fangzha::db::{self, DbConn, Pool};
use fangzha::domain::account::Role;
use fangzha::domain::risk::RiskRules;
use fangzha::error::ApiResult;
use fangzha::services::areas::{self, NewArea};
use fangzha::sync::SyncContext;
use fangzha::sync::merge::RecordState;
use fangzha::sync::pull::{self, PullRequest, PullResponse};
use fangzha::sync::push::{self, PushRequest, PushResponse};
use fangzha::sync::write;

pub use crate::test_db::{TestDb, postgres_admin_url};

/// The key personal values are encrypted with; fixed, so it survives restarts.
const FIELD_KEY: [u8; 32] = [7; 32];

/// A fresh sync context as the server builds one at start: a new server clock, the field
/// key, the default campaign start.
fn sync_context() -> SyncContext {
    SyncContext::new(
        FieldCipher::new(&FIELD_KEY, &[]),
        "2021-05-10",
        RiskRules::builtin(),
    )
}

/// What the sync handlers hold: a pool and the sync context (server HLC clock, field key).
/// Everything else the server keeps across requests lives in the database, so a restart is
/// dropping both and opening new ones over the same database.
pub struct Server {
    url: String,
    pool_size: u32,
    pool: Pool,
    ctx: SyncContext,
}

impl Server {
    /// Opens a pool over `url` and migrates it.
    pub fn start(url: &str, pool_size: u32) -> Server {
        let pool = db::connect(url, pool_size).expect("pool");
        db::migrate(&mut pool.get().expect("connection")).expect("migrate");
        Server {
            url: url.to_owned(),
            pool_size,
            pool,
            ctx: sync_context(),
        }
    }

    /// Drops the pool and the context (its clock), then starts again over the same database.
    pub fn restart(&mut self) {
        self.ctx = sync_context();
        self.pool = db::connect(&self.url, self.pool_size).expect("pool after restart");
    }

    /// A pooled connection (for setup and for reading the database in assertions).
    pub fn conn(&self) -> PooledConnection<db::DbManager> {
        self.pool.get().expect("connection")
    }

    /// The pool, for tests that run their own threads.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The sync context, shared by every request like the real server's.
    pub fn ctx(&self) -> &SyncContext {
        &self.ctx
    }

    /// `POST /api/sync/push` without HTTP.
    pub fn push(&self, user: &AuthUser, req: &PushRequest, now_ms: i64) -> ApiResult<PushResponse> {
        push_on(&mut self.conn(), &self.ctx, user, req, now_ms)
    }

    /// `POST /api/sync/pull` without HTTP.
    pub fn pull(&self, user: &AuthUser, req: &PullRequest, now_ms: i64) -> ApiResult<PullResponse> {
        pull::pull(&mut self.conn(), &self.ctx, user, req, now_ms)
    }

    /// A stored record's mergeable state, personal values decrypted.
    pub fn state_of(&self, row: &RecordRow) -> RecordState {
        write::state_of(row, &self.ctx.cipher)
    }
}

/// What the push handler does, on a given connection.
pub fn push_on(
    conn: &mut DbConn,
    ctx: &SyncContext,
    user: &AuthUser,
    req: &PushRequest,
    now_ms: i64,
) -> ApiResult<PushResponse> {
    let mids = push::check_batch(req, now_ms)?;
    push::apply_batch(conn, ctx, user, req, &mids, now_ms)
}

/// Creates an area with a chosen id through the service layer.
pub fn create_area(conn: &mut DbConn, id: &str, level: &str, parent: Option<&str>) {
    db::write_tx(conn, |c| {
        areas::create(
            c,
            NewArea {
                id: Some(id.to_owned()),
                name: format!("区域 {id}"),
                level: level.to_owned(),
                parent_id: parent.map(str::to_owned),
                boundary: None,
                qr_link: None,
                wechat_group: None,
            },
            None,
        )
    })
    .unwrap_or_else(|e| panic!("create area {id}: {e}"));
}

/// Inserts an account holding `areas` from `at_ms` on. Straight into the tables: the
/// password is never used and hashing one per user per seed would dominate the run time,
/// and the assignment time must be the simulated clock, not the wall clock.
pub fn create_user(
    conn: &mut DbConn,
    username: &str,
    role: Role,
    areas: &[String],
    at_ms: i64,
) -> String {
    let id = format!("user-{username}");
    db::write_tx(conn, |c| {
        db::users::insert(
            c,
            &db::users::UserRow {
                id: id.clone(),
                username: username.to_owned(),
                name: username.to_owned(),
                role: role.as_str().to_owned(),
                password_hash: "not-a-hash".to_owned(),
                disabled: false,
                created_at_ms: at_ms,
                updated_at_ms: at_ms,
            },
        )?;
        db::users::set_areas(c, &id, role.as_str(), areas, None, at_ms)?;
        Ok::<_, diesel::result::Error>(())
    })
    .expect("create user");
    id
}

/// Makes `areas` the user's areas from `at_ms` on (the admin API's reassignment, with the
/// simulated time).
pub fn reassign(conn: &mut DbConn, user_id: &str, role: Role, areas: &[String], at_ms: i64) {
    db::write_tx(conn, |c| {
        db::users::set_areas(c, user_id, role.as_str(), areas, None, at_ms)
    })
    .expect("reassign");
}

/// The caller as the extractor would build it at this moment.
pub fn auth_user(conn: &mut DbConn, user_id: &str) -> AuthUser {
    let row = db::users::get(conn, user_id)
        .expect("read user")
        .expect("user exists");
    let areas = db::users::current_area_ids(conn, user_id).expect("read areas");
    AuthUser {
        id: row.id,
        username: row.username,
        name: row.name,
        role: Role::parse(&row.role).expect("known role"),
        areas,
    }
}
