//! Pure rules of the campaign: validated types and checks, no I/O.

pub mod account;
pub mod area;
pub mod calendar;
pub mod campaign;
pub mod geo;
pub mod identity;
pub mod registration;
pub mod risk;
