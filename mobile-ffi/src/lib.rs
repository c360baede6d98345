#![doc = include_str!("../README.md")]

mod blobs;
mod client;
mod config;
mod error;
mod field;
pub mod geofence;
mod http;
mod listener;
mod media;
mod orders;
pub mod photos;
mod records;
mod reference;
mod sync;

pub use client::FieldClient;
pub use config::{ClientConfig, PhotoSettings};
pub use error::{ApiError, Result};
pub use field::PartUse;
pub use listener::{ClientListener, SyncPhase, SyncProgress};
pub use orders::SyncStatus;
pub use records::*;
pub use sync::{RefusedChange, RejectedOrder, SyncConflict, SyncReport, UploadFailure};

uniffi::setup_scaffolding!("lastmile");
