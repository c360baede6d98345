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
