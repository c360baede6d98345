//! Plain records: what a work order looks like to callers. No Automerge types here.

use crate::{ContentHash, DocId, Hlc, LineId, OrgId, UserId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Who acts on a document. The server uses `System` for rule-driven writes (conflict
/// resolution); no person has that role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Dispatcher,
    Warehouse,
    Engineer,
    Customer,
    System,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Dispatcher => "dispatcher",
            Role::Warehouse => "warehouse",
            Role::Engineer => "engineer",
            Role::Customer => "customer",
            Role::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "admin" => Role::Admin,
            "dispatcher" => Role::Dispatcher,
            "warehouse" => Role::Warehouse,
            "engineer" => Role::Engineer,
            "customer" => Role::Customer,
            "system" => Role::System,
            _ => return None,
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The work-order lifecycle. `Other` keeps a status written by a newer app version that this
/// build does not know, so reading never fails and writing never destroys it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    New,
    Assigned,
    EnRoute,
    OnSite,
    NeedsParts,
    Completed,
    Cancelled,
    Closed,
    Other(String),
}

impl Status {
    /// Every status this build knows, in lifecycle order.
    pub const KNOWN: [Status; 8] = [
        Status::New,
        Status::Assigned,
        Status::EnRoute,
        Status::OnSite,
        Status::NeedsParts,
        Status::Completed,
        Status::Cancelled,
        Status::Closed,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            Status::New => "new",
            Status::Assigned => "assigned",
            Status::EnRoute => "en_route",
            Status::OnSite => "on_site",
            Status::NeedsParts => "needs_parts",
            Status::Completed => "completed",
            Status::Cancelled => "cancelled",
            Status::Closed => "closed",
            Status::Other(s) => s,
        }
    }

    pub fn parse(s: &str) -> Status {
        match s {
            "new" => Status::New,
            "assigned" => Status::Assigned,
            "en_route" => Status::EnRoute,
            "on_site" => Status::OnSite,
            "needs_parts" => Status::NeedsParts,
            "completed" => Status::Completed,
            "cancelled" => Status::Cancelled,
            "closed" => Status::Closed,
            other => Status::Other(other.to_owned()),
        }
    }

    /// Whether the order is finished for the field (no more visits expected).
    pub fn is_terminal(&self) -> bool {
        matches!(self, Status::Completed | Status::Cancelled | Status::Closed)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Urgency of an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    /// Unknown text reads as `Normal` (a newer app's priority is still shown, never lost: the
    /// document keeps the text).
    pub fn parse(s: &str) -> Priority {
        match s {
            "low" => Priority::Low,
            "high" => Priority::High,
            "urgent" => Priority::Urgent,
            _ => Priority::Normal,
        }
    }

    /// 0 (low) ..= 3 (urgent), for sorting in SQL.
    pub fn rank(self) -> i64 {
        self as i64
    }
}

/// Who is acting, in which role, and when. Every mutation takes one.
#[derive(Clone, Debug)]
pub struct EditContext {
    pub user: UserId,
    pub role: Role,
    /// The device's wall clock, recorded for display only.
    pub device_time_ms: i64,
    /// Causal timestamp used to order events.
    pub hlc: Hlc,
}

/// A customer reference as the order shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: String,
    pub name: String,
}

/// Where the work happens.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Site {
    pub address: String,
    pub lat: f64,
    pub lon: f64,
}

/// The equipment being serviced.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    pub id: String,
    pub model: String,
    pub serial: String,
}

/// What a dispatcher fills in to create an order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewWorkOrder {
    pub id: DocId,
    pub org: OrgId,
    pub number: String,
    pub customer: Customer,
    pub site: Site,
    pub asset: Asset,
    pub problem: String,
    pub priority: Priority,
    pub sla_due_ms: Option<i64>,
}

/// The header of an order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub number: String,
    pub customer: Customer,
    pub site: Site,
    pub asset: Asset,
    pub problem: String,
    pub priority: Priority,
    pub sla_due_ms: Option<i64>,
    pub created_at_ms: i64,
}

/// Who does the work and when.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Dispatch {
    pub assignee: Option<UserId>,
    pub window_start_ms: Option<i64>,
    pub window_end_ms: Option<i64>,
}

/// What list screens and query tables need, read without walking visits or events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderSummary {
    pub id: DocId,
    pub org: OrgId,
    pub number: String,
    pub status: Status,
    pub priority: Priority,
    pub customer_name: String,
    pub site_address: String,
    pub lat: f64,
    pub lon: f64,
    pub asset_serial: String,
    pub problem: String,
    pub assignee: Option<UserId>,
    pub window_start_ms: Option<i64>,
    pub window_end_ms: Option<i64>,
    pub sla_due_ms: Option<i64>,
    /// Unresolved flags (conflicts, refusals) a dispatcher should look at.
    pub open_flags: u32,
}

/// Reference to a blob by content hash (photos, signatures).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlobRef {
    pub id: LineId,
    pub hash: ContentHash,
    pub caption: String,
    pub taken_at_ms: i64,
}

/// A GPS fix as the phone reported it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
    /// Reported accuracy radius in metres, if the phone gave one.
    pub accuracy_m: Option<f64>,
}

/// A check-in or check-out: where and when, and whether it was inside the site's geofence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckPoint {
    pub at_ms: i64,
    pub hlc: Hlc,
    pub position: Option<GeoPoint>,
    /// Distance to the site in metres, when a position was given.
    pub distance_m: Option<f64>,
    /// Outside the geofence radius: the check-in still counts, but the dispatcher sees a warning.
    pub off_site: bool,
}

/// Labour time on a visit. Append-only: a correction voids a line and adds a new one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabourEntry {
    pub id: LineId,
    pub engineer: UserId,
    pub start_ms: i64,
    /// `None` while a timer runs.
    pub end_ms: Option<i64>,
    pub note: String,
    /// Set on a void line: the entry it cancels.
    pub voids: Option<LineId>,
}

impl LabourEntry {
    /// Minutes recorded by this entry (0 while running or for a void line).
    pub fn minutes(&self) -> i64 {
        match (self.voids, self.end_ms) {
            (None, Some(end)) => (end - self.start_ms).max(0) / 60_000,
            _ => 0,
        }
    }
}

/// One line of parts consumption. Append-only: a correction is a void line (`voids` set, same
/// SKU and quantity, posted to the ledger as the reverse movement), never an edit in place.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConsumptionLine {
    pub id: LineId,
    pub sku: String,
    /// Quantity in the part's unit, in minor units (e.g. millimetres of cable): always > 0.
    pub qty: i64,
    /// Serial number installed, for serial-tracked parts.
    pub serial: Option<String>,
    /// Serial number of the faulty part this one replaced.
    pub replaced_serial: Option<String>,
    pub engineer: UserId,
    pub at_ms: i64,
    pub hlc: Hlc,
    pub voids: Option<LineId>,
}

/// What the engineer adds to consume a part.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewConsumption {
    pub sku: String,
    pub qty: i64,
    pub serial: Option<String>,
    pub replaced_serial: Option<String>,
}

/// The customer's signature: a blob reference plus who signed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    pub hash: ContentHash,
    pub signer_name: String,
    pub signed_at_ms: i64,
    pub hlc: Hlc,
}

/// A form answer. Numbers are kept as `f64` or `i64` as the template says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum FormValue {
    Text(String),
    Integer(i64),
    Number(f64),
    Bool(bool),
    Choice(String),
}

/// The service report of one visit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceReport {
    /// Form template id and version the answers were given against.
    pub template: Option<(String, u32)>,
    pub answers: std::collections::BTreeMap<String, FormValue>,
    pub notes: String,
    pub fault_code: Option<String>,
    pub resolution_code: Option<String>,
    pub photos: Vec<BlobRef>,
    pub signature: Option<Signature>,
}

/// One visit of an engineer to the site.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Visit {
    pub id: crate::VisitId,
    pub engineer: UserId,
    pub created_at_ms: i64,
    pub check_in: Option<CheckPoint>,
    pub check_out: Option<CheckPoint>,
    pub labour: Vec<LabourEntry>,
    pub parts: Vec<ConsumptionLine>,
    pub report: ServiceReport,
}

impl Visit {
    /// Consumption lines still in force: not void lines and not voided by one.
    pub fn effective_parts(&self) -> Vec<&ConsumptionLine> {
        let voided: std::collections::HashSet<LineId> =
            self.parts.iter().filter_map(|l| l.voids).collect();
        self.parts
            .iter()
            .filter(|l| l.voids.is_none() && !voided.contains(&l.id))
            .collect()
    }

    /// Labour minutes still in force.
    pub fn labour_minutes(&self) -> i64 {
        let voided: std::collections::HashSet<LineId> =
            self.labour.iter().filter_map(|l| l.voids).collect();
        self.labour
            .iter()
            .filter(|l| !voided.contains(&l.id))
            .map(LabourEntry::minutes)
            .sum()
    }
}

/// A parts request from the field, decided by warehouse staff.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartsRequest {
    pub id: LineId,
    pub sku: String,
    pub qty: i64,
    pub note: String,
    pub requested_by: UserId,
    pub at_ms: i64,
    /// `None` while pending.
    pub decision: Option<PartsDecision>,
}

/// Warehouse decision on a parts request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartsDecision {
    /// 0 = rejected; less than requested = partly approved.
    pub approved_qty: i64,
    pub by: UserId,
    pub at_ms: i64,
    pub note: String,
}

/// One entry of the append-only event log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: LineId,
    pub hlc: Hlc,
    /// The device's wall clock: for display only.
    pub device_time_ms: i64,
    pub user: String,
    pub role: String,
    pub kind: String,
    pub detail: String,
}

/// Something a dispatcher should look at: a resolved conflict or a refused change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    pub id: String,
    pub kind: String,
    /// The document field concerned, e.g. `status` or `dispatch.assignee`.
    pub field: String,
    pub detail: String,
    pub raised_hlc: Hlc,
    pub resolved_by: Option<String>,
}

/// The whole order as plain records: what a detail screen shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkOrder {
    pub id: DocId,
    pub org: OrgId,
    pub schema_version: u64,
    pub status: Status,
    pub header: Header,
    pub dispatch: Dispatch,
    /// Visits in creation order.
    pub visits: Vec<Visit>,
    pub parts_requests: Vec<PartsRequest>,
    /// Events in causal (HLC) order.
    pub events: Vec<Event>,
    pub flags: Vec<Flag>,
}
