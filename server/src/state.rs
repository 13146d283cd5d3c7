//! What every handler shares.

use std::sync::Arc;

use crate::auth::jwt::JwtKeys;
use crate::auth::login_guard::LoginGuard;
use crate::config::Settings;
use crate::db::Pool;
use crate::media::Media;
use crate::metrics::Metrics;
use crate::sync::SyncContext;

/// Application state, cloned cheaply into every worker (`web::Data` holds it in an `Arc`).
pub struct AppState {
    /// Database pool.
    pub pool: Pool,
    /// Settings in force.
    pub settings: Arc<Settings>,
    /// Access-token keys.
    pub jwt: JwtKeys,
    /// Login attempt limits.
    pub login_guard: LoginGuard,
    /// Sync push limits.
    pub push_guard: crate::rate_limit::PushGuard,
    /// Prometheus registry and instruments.
    pub metrics: Metrics,
    /// Server clock, field cipher and campaign settings for sync writes.
    pub sync: SyncContext,
    /// Live progress of the import jobs running in this process.
    pub imports: crate::imports::jobs::Jobs,
    /// Photo store, partial uploads and the processing pool.
    pub media: Media,
}
