//! Business rules shared by the phone and the server.

pub mod authority;
pub mod conflicts;
pub mod consumption;
pub mod forms;
pub mod status;
