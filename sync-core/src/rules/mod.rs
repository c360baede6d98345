//! Business rules shared by the phone and the server.

pub mod status;
