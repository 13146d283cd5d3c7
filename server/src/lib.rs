//! fangzha (防诈): the server of a township's anti-telecom-fraud campaign.
//!
//! Layers, outside in: `api` (HTTP handlers) → `services`/`auth` (use cases) → `db`
//! (diesel over SQLite or PostgreSQL). `domain` holds pure rules and touches neither actix
//! nor diesel.

pub mod api;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod exports;
pub mod flags;
pub mod headers;
pub mod imports;
pub mod media;
pub mod metrics;
pub mod pwa;
pub mod rate_limit;
pub mod reports;
pub mod services;
pub mod slow_clients;
pub mod startup;
pub mod state;
pub mod sync;
pub mod telemetry;
pub mod tls;
