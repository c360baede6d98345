//! The work order as an Automerge document, behind a typed API.
//!
//! One document per work order. Callers never touch Automerge paths: they read plain records
//! ([`WorkOrder`], [`OrderSummary`]) and change the document through [`WorkOrderDoc`]'s methods,
//! each of which takes an [`EditContext`] saying who acts, in which role, and when.

mod chunks;
mod doc;
mod model;
pub mod paths;
mod read;
mod visit;

pub(crate) use chunks::parse_changes;
pub use doc::WorkOrderDoc;
pub use model::*;
