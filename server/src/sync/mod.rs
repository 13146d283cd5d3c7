//! The sync engine (SYNC.md): HLC per-field merge, per-scope sequences, idempotent pushes,
//! pulls in commit order. Pure parts (`hlc`, `merge`, `entities`) know nothing of actix or
//! diesel; `push`, `pull` and `write` run inside one database transaction each.

pub mod entities;
pub mod hlc;
pub mod merge;
pub mod pull;
pub mod push;
pub mod scopes;
pub mod view;
pub mod write;

use std::sync::Mutex;

use crate::crypto::FieldCipher;
use crate::domain::risk::RiskRules;
use hlc::Clock;

/// The protocol version this server speaks (`schema` in push and pull).
pub const SCHEMA: u32 = 1;

/// What every sync write needs besides the database: the server's clock, the key for
/// personal values and the campaign settings the flag rules read.
pub struct SyncContext {
    /// The server's HLC (node `server`), advanced past every HLC it receives.
    pub clock: Mutex<Clock>,
    /// Encrypts personal values at rest.
    pub cipher: FieldCipher,
    /// Campaign start date (`YYYY-MM-DD`): earlier visits do not count.
    pub campaign_start: String,
    /// Fraud-risk weights in force.
    pub rules: RiskRules,
}

impl SyncContext {
    /// A context with a fresh server clock.
    pub fn new(cipher: FieldCipher, campaign_start: &str, rules: RiskRules) -> SyncContext {
        SyncContext {
            clock: Mutex::new(Clock::new("server")),
            cipher,
            campaign_start: campaign_start.to_owned(),
            rules,
        }
    }

    /// The next server HLC at `now_ms`.
    pub fn tick(&self, now_ms: i64) -> String {
        self.clock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .tick(now_ms.max(0) as u64)
            .to_string()
    }
}
