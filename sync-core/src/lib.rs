#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod error;
pub mod hlc;
pub mod ids;
pub mod protocol;
pub mod rules;
#[cfg(feature = "store")]
pub mod store;
pub mod workorder;

pub use error::{Error, Result};
pub use hlc::Hlc;
pub use ids::{ActorId, ContentHash, DocId, LineId, OrgId, UserId, VisitId};
#[cfg(feature = "store")]
pub use store::{ListQuery, Sort, Store, StoreTx};
pub use workorder::{EditContext, Role, Status, WorkOrderDoc};
