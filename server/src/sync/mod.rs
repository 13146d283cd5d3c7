//! The sync engine (SYNC.md): HLC per-field merge, per-scope sequences, idempotent pushes,
//! pulls in commit order. Pure parts (`hlc`, `merge`, `entities`) know nothing of actix or
//! diesel; `push`, `pull` and `write` run inside one database transaction each.

pub mod entities;
pub mod hlc;
pub mod merge;
pub mod pull;
pub mod push;
pub mod scopes;
pub mod write;

/// The protocol version this server speaks (`schema` in push and pull).
pub const SCHEMA: u32 = 1;
