//! Behaviour that must be the same on SQLite and PostgreSQL: every test here runs on both
//! (`<area>::sqlite::name` and `<area>::postgres::name`), each on its own fresh database.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod api;
mod auth;
mod store;
mod suggestions;
mod sync;
mod territories;
