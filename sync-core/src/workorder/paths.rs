//! The document layout: every key used in a work-order document, in one place.
//!
//! Field-level authority (which role may change which path) and the conflict rules refer to these
//! names, so a renamed key is a schema change, reviewed here.
//!
//! ```text
//! ROOT
//! ├─ schema        int    document schema version (SCHEMA_VERSION when written)
//! ├─ id, org       str
//! ├─ number        str    human order number, e.g. "WO-2026-00042"
//! ├─ status        str    Status::as_str
//! ├─ header        map    customer{id,name}, site{address,lat,lon}, asset{id,model,serial},
//! │                       problem (text), priority (str), sla_due (int ms), created_at (int ms)
//! ├─ dispatch      map    assignee (str|null), window_start, window_end (int ms|null)
//! ├─ visits        map    visit id -> visit map (see below)
//! ├─ parts_requests list  append-only request lines
//! ├─ events        list   append-only event log (id, hlc, device_time, user, role, kind, detail)
//! └─ flags         map    flag id -> flag (conflicts and refusals for a dispatcher)
//! ```
pub const SCHEMA: &str = "schema";
pub const ID: &str = "id";
pub const ORG: &str = "org";
pub const NUMBER: &str = "number";
pub const STATUS: &str = "status";
pub const HEADER: &str = "header";
pub const DISPATCH: &str = "dispatch";
pub const VISITS: &str = "visits";
pub const PARTS_REQUESTS: &str = "parts_requests";
pub const EVENTS: &str = "events";
pub const FLAGS: &str = "flags";

// header
pub const CUSTOMER: &str = "customer";
pub const SITE: &str = "site";
pub const ASSET: &str = "asset";
pub const PROBLEM: &str = "problem";
pub const PRIORITY: &str = "priority";
pub const SLA_DUE: &str = "sla_due";
pub const CREATED_AT: &str = "created_at";

// dispatch
pub const ASSIGNEE: &str = "assignee";
pub const WINDOW_START: &str = "window_start";
pub const WINDOW_END: &str = "window_end";

/// The document schema version this build writes. Readers accept older versions and preserve
/// fields of newer ones that they do not know (edits are targeted puts, never whole rewrites).
pub const SCHEMA_VERSION: u64 = 1;

// visits/<visit id>
pub const V_ID: &str = "id";
pub const V_ENGINEER: &str = "engineer";
pub const V_CREATED_AT: &str = "created_at";
pub const V_CHECK_IN: &str = "check_in";
pub const V_CHECK_OUT: &str = "check_out";
pub const V_LABOUR: &str = "labour";
pub const V_PARTS: &str = "parts";
pub const V_REPORT: &str = "report";

// visits/<visit id>/report
pub const R_TEMPLATE_ID: &str = "template_id";
pub const R_TEMPLATE_VERSION: &str = "template_version";
pub const R_ANSWERS: &str = "answers";
pub const R_NOTES: &str = "notes";
pub const R_FAULT_CODE: &str = "fault_code";
pub const R_RESOLUTION_CODE: &str = "resolution_code";
pub const R_PHOTOS: &str = "photos";
pub const R_SIGNATURE: &str = "signature";
