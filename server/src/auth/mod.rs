//! Authentication: passwords, access tokens, refresh-token rotation, failed-login limits and
//! the extractors handlers use to learn who is calling.

pub mod extract;
pub mod jwt;
pub mod login_guard;
pub mod password;
pub mod session;

pub use extract::{AdminUser, AuthUser};
