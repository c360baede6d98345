//! Reference data: what a device needs but never edits (the parts catalog, its van's stock).
//! The server is its authority; it travels in the same sync round trip as versioned deltas, not
//! as CRDT documents.
//!
//! The device sends the version of the reference data it holds (`SyncRequest::reference_version`);
//! the server answers with what changed since (`SyncResponse::reference`), or nothing. Versions are
//! the server's change sequence numbers, so "changed since" is one indexed query.

use serde::{Deserialize, Serialize};

/// One part of the catalog as a phone sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CatalogItem {
    pub sku: String,
    pub name: String,
    pub description: String,
    /// Unit of measure, e.g. `pcs`, `m`, `l`.
    pub unit: String,
    /// Unit cost in minor currency units.
    pub unit_cost_minor: i64,
    pub category: String,
    /// Each unit carries a serial number that must be recorded when consumed.
    pub serial_tracked: bool,
    /// Asset models the part fits.
    pub compatible_models: Vec<String>,
    /// Withdrawn from the catalog: the device drops it.
    pub deleted: bool,
}

/// One SKU in the engineer's van, as the server's ledger has it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VanStockLine {
    pub sku: String,
    /// Balance in the part's unit (minor units); negative when consumption outran the ledger.
    pub qty: i64,
    /// Serial numbers in the van, for serial-tracked parts.
    pub serials: Vec<String>,
}

/// What changed in the reference data since the device's version.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReferenceDelta {
    /// The version the device holds once this is applied.
    pub version: u64,
    /// The device must drop its catalog before applying (first sync, or too far behind).
    pub full: bool,
    /// New, changed or withdrawn catalog items.
    pub catalog: Vec<CatalogItem>,
    /// The van's whole stock, when any of it changed (a van holds tens of SKUs, not thousands).
    pub van: Option<Vec<VanStockLine>>,
}
