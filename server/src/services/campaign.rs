//! The campaign configuration in force: the newest version an admin saved, or the defaults
//! (with the start date from the server's settings) before anyone has.

use crate::db::{DbConn, campaign};
use crate::domain::campaign::Campaign;
use crate::error::{ApiError, ApiResult};

/// The configuration in force and its version (0: the built-in defaults).
pub fn current(conn: &mut DbConn, default_start: &str) -> ApiResult<(i64, Campaign)> {
    match campaign::current(conn)? {
        Some(row) => {
            let config = serde_json::from_str(&row.config).map_err(|e| {
                ApiError::Internal(anyhow::anyhow!(
                    "campaign version {} unreadable: {e}",
                    row.version
                ))
            })?;
            Ok((row.version, config))
        }
        None => Ok((0, Campaign::defaults(default_start))),
    }
}

/// Validates and stores a new version; returns its number.
pub fn save(conn: &mut DbConn, config: &Campaign, by: &str, now_ms: i64) -> ApiResult<i64> {
    config
        .validate()
        .map_err(|(field, message)| ApiError::invalid_field(&field, message))?;
    let text = serde_json::to_string(config).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(campaign::add_version(conn, &text, by, now_ms)?.version)
}
