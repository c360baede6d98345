//! Plain records that cross the boundary. No Automerge or sync-core type reaches the app: ids
//! are UUID strings, times UTC milliseconds, quantities integers in the part's minor unit.

use sync_core::workorder as wo;

/// The lifecycle of an order. `Unknown` is a status written by a newer app version; its text is
/// in the record's `status_name`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum OrderStatus {
    New,
    Assigned,
    EnRoute,
    OnSite,
    NeedsParts,
    Completed,
    Cancelled,
    Closed,
    Unknown,
}

impl OrderStatus {
    pub(crate) fn of(s: &sync_core::Status) -> Self {
        use sync_core::Status as S;
        match s {
            S::New => Self::New,
            S::Assigned => Self::Assigned,
            S::EnRoute => Self::EnRoute,
            S::OnSite => Self::OnSite,
            S::NeedsParts => Self::NeedsParts,
            S::Completed => Self::Completed,
            S::Cancelled => Self::Cancelled,
            S::Closed => Self::Closed,
            S::Other(_) => Self::Unknown,
        }
    }

    /// The sync-core status; `None` for `Unknown`, which cannot be set.
    pub(crate) fn to_core(self) -> Option<sync_core::Status> {
        use sync_core::Status as S;
        Some(match self {
            Self::New => S::New,
            Self::Assigned => S::Assigned,
            Self::EnRoute => S::EnRoute,
            Self::OnSite => S::OnSite,
            Self::NeedsParts => S::NeedsParts,
            Self::Completed => S::Completed,
            Self::Cancelled => S::Cancelled,
            Self::Closed => S::Closed,
            Self::Unknown => return None,
        })
    }
}

/// Urgency of an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub(crate) fn of(p: wo::Priority) -> Self {
        match p {
            wo::Priority::Low => Self::Low,
            wo::Priority::Normal => Self::Normal,
            wo::Priority::High => Self::High,
            wo::Priority::Urgent => Self::Urgent,
        }
    }
}

/// A GPS fix from the phone.
#[derive(Clone, Copy, Debug, PartialEq, uniffi::Record)]
pub struct GeoPosition {
    /// Degrees, -90 ..= 90.
    pub lat: f64,
    /// Degrees, -180 ..= 180.
    pub lon: f64,
    /// The fix's accuracy radius in metres, if the platform gave one.
    #[uniffi(default = None)]
    pub accuracy_m: Option<f64>,
}

impl GeoPosition {
    pub(crate) fn of(p: &wo::GeoPoint) -> Self {
        GeoPosition {
            lat: p.lat,
            lon: p.lon,
            accuracy_m: p.accuracy_m,
        }
    }

    pub(crate) fn to_core(self) -> wo::GeoPoint {
        wo::GeoPoint {
            lat: self.lat,
            lon: self.lon,
            accuracy_m: self.accuracy_m,
        }
    }
}

/// One row of an order list.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct OrderSummary {
    pub id: String,
    pub number: String,
    pub status: OrderStatus,
    /// The status as text (`on_site` ...), also for `Unknown`.
    pub status_name: String,
    pub priority: Priority,
    pub customer_name: String,
    pub site_address: String,
    pub site_lat: f64,
    pub site_lon: f64,
    pub asset_serial: String,
    pub problem: String,
    pub window_start_ms: Option<i64>,
    pub window_end_ms: Option<i64>,
    pub sla_due_ms: Option<i64>,
    /// Conflicts or refused changes a dispatcher has not resolved yet.
    pub open_flags: u32,
    /// Great-circle distance from the query's position to the site, when a position was given.
    pub distance_m: Option<f64>,
}

impl OrderSummary {
    pub(crate) fn of(s: wo::OrderSummary, distance_m: Option<f64>) -> Self {
        OrderSummary {
            id: s.id.to_string(),
            number: s.number,
            status: OrderStatus::of(&s.status),
            status_name: s.status.as_str().to_owned(),
            priority: Priority::of(s.priority),
            customer_name: s.customer_name,
            site_address: s.site_address,
            site_lat: s.lat,
            site_lon: s.lon,
            asset_serial: s.asset_serial,
            problem: s.problem,
            window_start_ms: s.window_start_ms,
            window_end_ms: s.window_end_ms,
            sla_due_ms: s.sla_due_ms,
            open_flags: s.open_flags,
            distance_m,
        }
    }
}

/// Which orders to list. Every field has a default, so `OrderQuery()` lists everything by
/// schedule.
#[derive(Clone, Debug, Default, PartialEq, uniffi::Record)]
pub struct OrderQuery {
    /// Which schedule window (default: all orders, scheduled or not).
    #[uniffi(default = None)]
    pub window: Option<OrderWindow>,
    /// Only these statuses (empty: any).
    #[uniffi(default)]
    pub statuses: Vec<OrderStatus>,
    /// Sort order (default: schedule, unscheduled last).
    #[uniffi(default = None)]
    pub sort: Option<OrderSort>,
    /// The phone's position: needed by `OrderSort::Distance`, and fills `distance_m` of each row.
    #[uniffi(default = None)]
    pub position: Option<GeoPosition>,
    /// At most this many rows (0: no limit).
    #[uniffi(default = 0)]
    pub limit: u32,
    /// Skip this many rows first (stable paging).
    #[uniffi(default = 0)]
    pub offset: u32,
}

/// A schedule window, in the phone's local time (the app passes its UTC offset, which it knows
/// and the library does not).
#[derive(Clone, Debug, PartialEq, uniffi::Enum)]
pub enum OrderWindow {
    /// Orders whose schedule window overlaps the local calendar day of `now`.
    Today { utc_offset_minutes: i32 },
    /// Orders scheduled from the start of tomorrow (local) on.
    Upcoming { utc_offset_minutes: i32 },
    /// Orders whose window overlaps `[from_ms, to_ms]`.
    Between { from_ms: i64, to_ms: i64 },
}

/// Sort orders of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum OrderSort {
    /// Schedule window start, earliest first; unscheduled last.
    Schedule,
    /// Urgent first, then by SLA due.
    Priority,
    /// SLA due, earliest first.
    Sla,
    /// Nearest site first (needs `OrderQuery::position`).
    Distance,
}

/// A customer as the order shows it.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Customer {
    pub id: String,
    pub name: String,
}

/// Where the work happens.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Site {
    pub address: String,
    pub lat: f64,
    pub lon: f64,
}

/// The equipment serviced.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Asset {
    pub id: String,
    pub model: String,
    pub serial: String,
}

/// A check-in or check-out.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct CheckPoint {
    /// The phone's clock when it happened.
    pub at_ms: i64,
    pub position: Option<GeoPosition>,
    /// Distance to the site in metres, when a position was given and the site has coordinates.
    pub distance_m: Option<f64>,
    /// Outside the geofence: it still counts, and the dispatcher sees a warning.
    pub off_site: bool,
}

impl CheckPoint {
    fn of(c: &wo::CheckPoint) -> Self {
        CheckPoint {
            at_ms: c.at_ms,
            position: c.position.as_ref().map(GeoPosition::of),
            distance_m: c.distance_m,
            off_site: c.off_site,
        }
    }
}

/// Labour time. Append-only: a correction voids an entry (`void_labour`) and adds a new one.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct LabourEntry {
    pub id: String,
    pub engineer_id: String,
    pub start_ms: i64,
    /// `None` while the timer runs.
    pub end_ms: Option<i64>,
    pub note: String,
    /// Set on a void line: the entry it cancels.
    pub voids: Option<String>,
    /// A later void line cancels this entry.
    pub voided: bool,
    /// Whole minutes in force (0 for void lines, voided and running entries).
    pub minutes: i64,
}

/// One line of parts consumption. Append-only: `void_part` adds a void line.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct PartLine {
    pub id: String,
    pub sku: String,
    /// In the part's unit, minor units (pieces, millimetres ...).
    pub qty: i64,
    pub serial: Option<String>,
    /// The serial number of the faulty part this one replaced.
    pub replaced_serial: Option<String>,
    pub engineer_id: String,
    pub at_ms: i64,
    /// Set on a void line: the line it cancels.
    pub voids: Option<String>,
    /// A later void line cancels this one.
    pub voided: bool,
}

/// A form answer, typed as the template's field.
#[derive(Clone, Debug, PartialEq, uniffi::Enum)]
pub enum FormValue {
    Text { value: String },
    Integer { value: i64 },
    Number { value: f64 },
    Bool { value: bool },
    Choice { value: String },
}

impl FormValue {
    pub(crate) fn of(v: &wo::FormValue) -> Self {
        match v {
            wo::FormValue::Text(s) => Self::Text { value: s.clone() },
            wo::FormValue::Integer(i) => Self::Integer { value: *i },
            wo::FormValue::Number(n) => Self::Number { value: *n },
            wo::FormValue::Bool(b) => Self::Bool { value: *b },
            wo::FormValue::Choice(c) => Self::Choice { value: c.clone() },
        }
    }

    pub(crate) fn to_core(&self) -> wo::FormValue {
        match self {
            Self::Text { value } => wo::FormValue::Text(value.clone()),
            Self::Integer { value } => wo::FormValue::Integer(*value),
            Self::Number { value } => wo::FormValue::Number(*value),
            Self::Bool { value } => wo::FormValue::Bool(*value),
            Self::Choice { value } => wo::FormValue::Choice(value.clone()),
        }
    }
}

/// One answered field of the service report.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct FormAnswer {
    pub key: String,
    pub value: FormValue,
}

/// A photo referenced by the report.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct PhotoRef {
    pub id: String,
    /// SHA-256 of the stored JPEG, lower-case hex: `blob_path` / `blob` find it.
    pub hash: String,
    pub caption: String,
    pub taken_at_ms: i64,
    /// The blob is on this device.
    pub local: bool,
    /// The server has the blob (as far as this device knows).
    pub uploaded: bool,
}

/// The customer's signature.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct SignatureRef {
    pub hash: String,
    pub signer_name: String,
    pub signed_at_ms: i64,
    pub local: bool,
    pub uploaded: bool,
}

/// The service report of one visit.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct ServiceReport {
    pub template_id: Option<String>,
    pub template_version: Option<u32>,
    /// Sorted by key.
    pub answers: Vec<FormAnswer>,
    pub notes: String,
    pub fault_code: Option<String>,
    pub resolution_code: Option<String>,
    pub photos: Vec<PhotoRef>,
    pub signature: Option<SignatureRef>,
}

/// One visit of an engineer to the site.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Visit {
    pub id: String,
    pub engineer_id: String,
    pub created_at_ms: i64,
    pub check_in: Option<CheckPoint>,
    pub check_out: Option<CheckPoint>,
    pub labour: Vec<LabourEntry>,
    /// Minutes of labour in force on this visit.
    pub labour_minutes: i64,
    pub parts: Vec<PartLine>,
    pub report: ServiceReport,
}

/// A parts request to the warehouse.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct PartsRequest {
    pub id: String,
    pub sku: String,
    pub qty: i64,
    pub note: String,
    pub requested_by: String,
    pub at_ms: i64,
    /// `None` while the warehouse has not decided.
    pub decision: Option<PartsDecision>,
}

/// The warehouse's answer to a parts request.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct PartsDecision {
    /// 0: rejected; less than asked: partly approved.
    pub approved_qty: i64,
    pub by: String,
    pub at_ms: i64,
    pub note: String,
}

/// One entry of the order's history, in causal order.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct OrderEvent {
    pub id: String,
    /// The acting device's clock (display only; the order of the list is causal).
    pub at_ms: i64,
    pub user_id: String,
    pub role: String,
    pub kind: String,
    pub detail: String,
}

/// A conflict or refused change a dispatcher should look at.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct OrderFlag {
    pub id: String,
    pub kind: String,
    pub field: String,
    pub detail: String,
    pub resolved: bool,
}

/// The whole order: what a detail screen shows.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct WorkOrder {
    pub id: String,
    pub number: String,
    pub status: OrderStatus,
    pub status_name: String,
    pub priority: Priority,
    pub customer: Customer,
    pub site: Site,
    pub asset: Asset,
    pub problem: String,
    pub sla_due_ms: Option<i64>,
    pub created_at_ms: i64,
    pub assignee_id: Option<String>,
    pub window_start_ms: Option<i64>,
    pub window_end_ms: Option<i64>,
    /// In creation order.
    pub visits: Vec<Visit>,
    /// The visit the signed-in engineer works on (the open one, else their latest), if any.
    pub current_visit_id: Option<String>,
    pub parts_requests: Vec<PartsRequest>,
    pub events: Vec<OrderEvent>,
    pub flags: Vec<OrderFlag>,
    /// Local changes the server has not acknowledged yet.
    pub pending_upload: bool,
}

/// Blob state known to this device, for `PhotoRef::local` / `uploaded`.
pub(crate) trait BlobLookup {
    /// (on this device, uploaded)
    fn state(&self, hash: &str) -> (bool, bool);
}

impl WorkOrder {
    pub(crate) fn of(
        o: wo::WorkOrder,
        current_visit: Option<sync_core::VisitId>,
        pending_upload: bool,
        blobs: &dyn BlobLookup,
    ) -> Self {
        WorkOrder {
            id: o.id.to_string(),
            number: o.header.number,
            status: OrderStatus::of(&o.status),
            status_name: o.status.as_str().to_owned(),
            priority: Priority::of(o.header.priority),
            customer: Customer {
                id: o.header.customer.id,
                name: o.header.customer.name,
            },
            site: Site {
                address: o.header.site.address,
                lat: o.header.site.lat,
                lon: o.header.site.lon,
            },
            asset: Asset {
                id: o.header.asset.id,
                model: o.header.asset.model,
                serial: o.header.asset.serial,
            },
            problem: o.header.problem,
            sla_due_ms: o.header.sla_due_ms,
            created_at_ms: o.header.created_at_ms,
            assignee_id: o.dispatch.assignee.map(|u| u.to_string()),
            window_start_ms: o.dispatch.window_start_ms,
            window_end_ms: o.dispatch.window_end_ms,
            visits: o.visits.iter().map(|v| visit(v, blobs)).collect(),
            current_visit_id: current_visit.map(|v| v.to_string()),
            parts_requests: o.parts_requests.iter().map(parts_request).collect(),
            events: o
                .events
                .iter()
                .map(|e| OrderEvent {
                    id: e.id.to_string(),
                    at_ms: e.device_time_ms,
                    user_id: e.user.clone(),
                    role: e.role.clone(),
                    kind: e.kind.clone(),
                    detail: e.detail.clone(),
                })
                .collect(),
            flags: o
                .flags
                .iter()
                .map(|f| OrderFlag {
                    id: f.id.clone(),
                    kind: f.kind.clone(),
                    field: f.field.clone(),
                    detail: f.detail.clone(),
                    resolved: f.resolved_by.is_some(),
                })
                .collect(),
            pending_upload,
        }
    }
}

fn visit(v: &wo::Visit, blobs: &dyn BlobLookup) -> Visit {
    let voided_labour: std::collections::HashSet<_> =
        v.labour.iter().filter_map(|l| l.voids).collect();
    let voided_parts: std::collections::HashSet<_> =
        v.parts.iter().filter_map(|l| l.voids).collect();
    let r = &v.report;
    Visit {
        id: v.id.to_string(),
        engineer_id: v.engineer.to_string(),
        created_at_ms: v.created_at_ms,
        check_in: v.check_in.as_ref().map(CheckPoint::of),
        check_out: v.check_out.as_ref().map(CheckPoint::of),
        labour: v
            .labour
            .iter()
            .map(|l| {
                let voided = voided_labour.contains(&l.id);
                LabourEntry {
                    id: l.id.to_string(),
                    engineer_id: l.engineer.to_string(),
                    start_ms: l.start_ms,
                    end_ms: l.end_ms,
                    note: l.note.clone(),
                    voids: l.voids.map(|x| x.to_string()),
                    voided,
                    minutes: if voided { 0 } else { l.minutes() },
                }
            })
            .collect(),
        labour_minutes: v.labour_minutes(),
        parts: v
            .parts
            .iter()
            .map(|l| PartLine {
                id: l.id.to_string(),
                sku: l.sku.clone(),
                qty: l.qty,
                serial: l.serial.clone(),
                replaced_serial: l.replaced_serial.clone(),
                engineer_id: l.engineer.to_string(),
                at_ms: l.at_ms,
                voids: l.voids.map(|x| x.to_string()),
                voided: voided_parts.contains(&l.id),
            })
            .collect(),
        report: ServiceReport {
            template_id: r.template.as_ref().map(|(id, _)| id.clone()),
            template_version: r.template.as_ref().map(|(_, v)| *v),
            answers: r
                .answers
                .iter()
                .map(|(k, v)| FormAnswer {
                    key: k.clone(),
                    value: FormValue::of(v),
                })
                .collect(),
            notes: r.notes.clone(),
            fault_code: r.fault_code.clone(),
            resolution_code: r.resolution_code.clone(),
            photos: r
                .photos
                .iter()
                .map(|p| {
                    let hash = p.hash.to_hex();
                    let (local, uploaded) = blobs.state(&hash);
                    PhotoRef {
                        id: p.id.to_string(),
                        hash,
                        caption: p.caption.clone(),
                        taken_at_ms: p.taken_at_ms,
                        local,
                        uploaded,
                    }
                })
                .collect(),
            signature: r.signature.as_ref().map(|s| {
                let hash = s.hash.to_hex();
                let (local, uploaded) = blobs.state(&hash);
                SignatureRef {
                    hash,
                    signer_name: s.signer_name.clone(),
                    signed_at_ms: s.signed_at_ms,
                    local,
                    uploaded,
                }
            }),
        },
    }
}

fn parts_request(r: &wo::PartsRequest) -> PartsRequest {
    PartsRequest {
        id: r.id.to_string(),
        sku: r.sku.clone(),
        qty: r.qty,
        note: r.note.clone(),
        requested_by: r.requested_by.to_string(),
        at_ms: r.at_ms,
        decision: r.decision.as_ref().map(|d| PartsDecision {
            approved_qty: d.approved_qty,
            by: d.by.to_string(),
            at_ms: d.at_ms,
            note: d.note.clone(),
        }),
    }
}

/// A form template: the fields of a service report and their constraints.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct FormTemplate {
    pub id: String,
    pub version: u32,
    pub name: String,
    pub fields: Vec<FormField>,
}

/// One field of a form template.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct FormField {
    pub key: String,
    pub label: String,
    pub required: bool,
    pub kind: FieldKind,
}

/// The type of a field and its constraints.
#[derive(Clone, Debug, PartialEq, uniffi::Enum)]
pub enum FieldKind {
    Text { max_len: u32 },
    Integer { min: Option<i64>, max: Option<i64> },
    Number { min: Option<f64>, max: Option<f64> },
    Bool,
    Choice { options: Vec<String> },
}

impl FormTemplate {
    pub(crate) fn to_core(&self) -> sync_core::rules::forms::FormTemplate {
        use sync_core::rules::forms as f;
        f::FormTemplate {
            id: self.id.clone(),
            version: self.version,
            name: self.name.clone(),
            fields: self
                .fields
                .iter()
                .map(|d| f::FieldDef {
                    key: d.key.clone(),
                    label: d.label.clone(),
                    required: d.required,
                    kind: match &d.kind {
                        FieldKind::Text { max_len } => f::FieldKind::Text {
                            max_len: *max_len as usize,
                        },
                        FieldKind::Integer { min, max } => f::FieldKind::Integer {
                            min: *min,
                            max: *max,
                        },
                        FieldKind::Number { min, max } => f::FieldKind::Number {
                            min: *min,
                            max: *max,
                        },
                        FieldKind::Bool => f::FieldKind::Bool,
                        FieldKind::Choice { options } => f::FieldKind::Choice {
                            options: options.clone(),
                        },
                    },
                })
                .collect(),
        }
    }

    pub(crate) fn of(t: &sync_core::rules::forms::FormTemplate) -> Self {
        use sync_core::rules::forms as f;
        FormTemplate {
            id: t.id.clone(),
            version: t.version,
            name: t.name.clone(),
            fields: t
                .fields
                .iter()
                .map(|d| FormField {
                    key: d.key.clone(),
                    label: d.label.clone(),
                    required: d.required,
                    kind: match &d.kind {
                        f::FieldKind::Text { max_len } => FieldKind::Text {
                            max_len: u32::try_from(*max_len).unwrap_or(u32::MAX),
                        },
                        f::FieldKind::Integer { min, max } => FieldKind::Integer {
                            min: *min,
                            max: *max,
                        },
                        f::FieldKind::Number { min, max } => FieldKind::Number {
                            min: *min,
                            max: *max,
                        },
                        f::FieldKind::Bool => FieldKind::Bool,
                        f::FieldKind::Choice { options } => FieldKind::Choice {
                            options: options.clone(),
                        },
                    },
                })
                .collect(),
        }
    }
}

/// Why a report answer is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct FieldProblem {
    pub key: String,
    pub reason: String,
}

/// What `check_in` / `check_out` did.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct CheckResult {
    pub visit_id: String,
    /// Distance to the site in metres, when there was a position and the site has coordinates.
    pub distance_m: Option<f64>,
    /// Outside the geofence (it still counted).
    pub off_site: bool,
    /// The geofence radius it was judged against.
    pub radius_m: f64,
    /// The order's status afterwards.
    pub status: OrderStatus,
}

/// A stored photo.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct PhotoResult {
    /// The report line referencing it.
    pub photo_id: String,
    /// SHA-256 of the stored JPEG, hex.
    pub hash: String,
    pub width: u32,
    pub height: u32,
    /// Size of the stored JPEG.
    pub bytes: u64,
    /// Size of what the camera handed over.
    pub original_bytes: u64,
    /// Where the photo was taken, read from its EXIF block, when `PhotoSettings::keep_location`
    /// is on and the photo had one (then also recorded in the order's history). Otherwise the
    /// location is dropped with the rest of the EXIF block.
    pub location: Option<GeoPosition>,
}

/// A stored signature.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct SignatureResult {
    pub hash: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
}

/// A part of the catalog.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct CatalogItem {
    pub sku: String,
    pub name: String,
    pub description: String,
    pub unit: String,
    pub unit_cost_minor: i64,
    pub category: String,
    /// Consuming it needs a serial number per unit.
    pub serial_tracked: bool,
    pub compatible_models: Vec<String>,
}

/// One SKU in the van, as the phone believes it.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct VanStockItem {
    pub sku: String,
    /// The server's balance at the last sync.
    pub server_qty: i64,
    /// Consumed on this phone since, not yet acknowledged by the server (void lines count back).
    pub pending_use: i64,
    /// `server_qty - pending_use`: what the engineer should find in the van.
    pub qty: i64,
    /// Serial numbers in the van (serial-tracked parts), less those consumed pending sync.
    pub serials: Vec<String>,
}

/// Who the device belongs to, and its token. Keep it in the platform's secure storage
/// (Keychain, Android Keystore-backed storage) and hand it back to `FieldClient.open` after a
/// restart; the library keeps the token in memory only.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct DeviceCredentials {
    pub user_id: String,
    pub org_id: String,
    pub user_name: String,
    pub email: String,
    /// This install's device id (random, stable per install).
    pub device_id: String,
    /// The device token (a bearer secret; lives until the device is revoked).
    pub token: String,
}
