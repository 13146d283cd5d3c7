//! Use cases shared by the HTTP API and the command line, so both validate the same way.

pub mod accounts;
pub mod areas;
pub mod campaign;
