//! Black-box tests over HTTP against a real server (SQLite, or PostgreSQL with
//! `TEST_DATABASE_URL`).

mod admin;
mod auth;
mod blobs;
mod cli;
mod health;
mod helpers;
mod personal;
mod schema;
mod sync;
