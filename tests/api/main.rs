//! Black-box tests over HTTP against a real server (SQLite, or PostgreSQL with
//! `TEST_DATABASE_URL`).

mod admin;
mod auth;
mod authz;
mod backup;
mod bad_input;
mod blobs;
mod cli;
mod exports;
mod health;
mod helpers;
mod imports;
mod personal;
mod reports;
mod schema;
mod security;
mod sync;
#[path = "../common/test_db.rs"]
mod test_db;
