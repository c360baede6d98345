#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod error;
pub mod hlc;
pub mod ids;
pub mod rules;
pub mod workorder;

pub use error::{Error, Result};
pub use hlc::Hlc;
pub use ids::{ActorId, ContentHash, DocId, LineId, OrgId, UserId, VisitId};
pub use workorder::{EditContext, Role, Status, WorkOrderDoc};
