//! What the engineer does on an order, offline: status changes, check-in and check-out with the
//! geofence, labour, parts, and the service report. Each call is one transaction on the device
//! store, and the server sees it at the next sync.

use crate::client::{FieldClient, META_TEMPLATE_PREFIX, parse_line};
use crate::error::{ApiError, Result, guard};
use crate::geofence;
use crate::orders::{current_visit, status_of};
use crate::records::{
    CheckResult, FieldProblem, FormTemplate, FormValue, GeoPosition, OrderStatus,
};
use std::collections::BTreeMap;
use sync_core::rules::forms;
use sync_core::workorder::NewConsumption;
use sync_core::{EditContext, Status, UserId, VisitId, WorkOrderDoc};

/// A part taken from the van.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct PartUse {
    pub sku: String,
    /// In the part's unit, minor units; 1 for a serial-numbered part.
    pub qty: i64,
    /// The installed part's serial number (required for serial-tracked parts).
    #[uniffi(default = None)]
    pub serial: Option<String>,
    /// The serial number of the faulty part it replaced.
    #[uniffi(default = None)]
    pub replaced_serial: Option<String>,
}

#[uniffi::export]
impl FieldClient {
    /// Change the order's status as the engineer (`EnRoute`, `OnSite`, `NeedsParts`,
    /// `Completed` ...). The status machine decides: `TransitionNotAllowed` says why not.
    /// Completing checks the service report against its template (`ReportIncomplete`).
    pub fn set_status(&self, order_id: String, status: OrderStatus) -> Result<OrderStatus> {
        guard(|| {
            let to = status
                .to_core()
                .ok_or_else(|| ApiError::input("Unknown is not a status one can set"))?;
            self.edit(&order_id, |doc, ctx, user| {
                if to == Status::Completed {
                    self.check_report_complete(doc, user)?;
                }
                doc.set_status(ctx, to)?;
                Ok(status_of(doc))
            })
        })
    }

    /// On the way to the site (`assigned` or `needs_parts` -> `en_route`).
    pub fn start_travel(&self, order_id: String) -> Result<OrderStatus> {
        self.set_status(order_id, OrderStatus::EnRoute)
    }

    /// The job is done: the report is checked against its template, then `on_site` ->
    /// `completed`.
    pub fn complete(&self, order_id: String) -> Result<OrderStatus> {
        self.set_status(order_id, OrderStatus::Completed)
    }

    /// The job needs parts that are not in the van: `on_site` -> `needs_parts`. Pair it with
    /// `request_parts`.
    pub fn report_needs_parts(&self, order_id: String) -> Result<OrderStatus> {
        self.set_status(order_id, OrderStatus::NeedsParts)
    }

    /// Check in on site. Starts a visit if the engineer has no open one, records the position
    /// and the geofence verdict, and moves the order to `on_site` where the status machine
    /// allows it. Outside the geofence the check-in still succeeds, marked off-site with the
    /// distance. `position` is `None` without a GPS fix (then not judged).
    pub fn check_in(&self, order_id: String, position: Option<GeoPosition>) -> Result<CheckResult> {
        guard(|| {
            if let Some(p) = &position {
                geofence::validate(p)?;
            }
            let radius = self.config.geofence_radius_m;
            self.edit(&order_id, |doc, ctx, user| {
                let visit = match open_visit(doc, user) {
                    Some(v) if doc.read_visit(&v)?.check_in.is_some() => {
                        return Err(ApiError::state("already checked in; check out first"));
                    }
                    Some(v) => v,
                    None => doc.start_visit(ctx)?,
                };
                let site = doc.header()?.site;
                let verdict = geofence::judge(site.lat, site.lon, position.as_ref(), radius);
                doc.check_in(
                    ctx,
                    &visit,
                    position.map(GeoPosition::to_core),
                    verdict.distance_m,
                    verdict.off_site,
                )?;
                Ok(CheckResult {
                    visit_id: visit.to_string(),
                    distance_m: verdict.distance_m,
                    off_site: verdict.off_site,
                    radius_m: radius,
                    status: status_of(doc),
                })
            })
        })
    }

    /// Check out of the open visit (running labour timers stop), with the same geofence check.
    pub fn check_out(
        &self,
        order_id: String,
        position: Option<GeoPosition>,
    ) -> Result<CheckResult> {
        guard(|| {
            if let Some(p) = &position {
                geofence::validate(p)?;
            }
            let radius = self.config.geofence_radius_m;
            self.edit(&order_id, |doc, ctx, user| {
                let visit = open_visit(doc, user)
                    .ok_or_else(|| ApiError::state("not checked in on this order"))?;
                let site = doc.header()?.site;
                let verdict = geofence::judge(site.lat, site.lon, position.as_ref(), radius);
                doc.check_out(
                    ctx,
                    &visit,
                    position.map(GeoPosition::to_core),
                    verdict.distance_m,
                    verdict.off_site,
                )?;
                Ok(CheckResult {
                    visit_id: visit.to_string(),
                    distance_m: verdict.distance_m,
                    off_site: verdict.off_site,
                    radius_m: radius,
                    status: status_of(doc),
                })
            })
        })
    }

    /// Start a labour timer on the current visit; returns the entry id.
    pub fn start_labour(&self, order_id: String, note: String) -> Result<String> {
        guard(|| {
            self.edit(&order_id, |doc, ctx, user| {
                let visit = require_visit(doc, user)?;
                let running = doc
                    .read_visit(&visit)?
                    .labour
                    .iter()
                    .any(|l| l.end_ms.is_none() && l.voids.is_none() && l.engineer == user);
                if running {
                    return Err(ApiError::state("a labour timer is already running"));
                }
                Ok(doc.start_labour(ctx, &visit, &note)?.to_string())
            })
        })
    }

    /// Stop a running labour timer.
    pub fn stop_labour(&self, order_id: String, entry_id: String) -> Result<()> {
        guard(|| {
            let entry = parse_line(&entry_id)?;
            self.edit(&order_id, |doc, ctx, user| {
                let visit = visit_holding(doc, user, |v| v.labour.iter().any(|l| l.id == entry))?;
                Ok(doc.stop_labour(ctx, &visit, &entry)?)
            })
        })
    }

    /// Record labour after the fact (UTC milliseconds); returns the entry id.
    pub fn add_labour(
        &self,
        order_id: String,
        start_ms: i64,
        end_ms: i64,
        note: String,
    ) -> Result<String> {
        guard(|| {
            self.edit(&order_id, |doc, ctx, user| {
                let visit = require_visit(doc, user)?;
                Ok(doc
                    .add_manual_labour(ctx, &visit, start_ms, end_ms, &note)?
                    .to_string())
            })
        })
    }

    /// Cancel a labour entry (appends a void line); returns the void line's id.
    pub fn void_labour(&self, order_id: String, entry_id: String) -> Result<String> {
        guard(|| {
            let entry = parse_line(&entry_id)?;
            self.edit(&order_id, |doc, ctx, user| {
                let visit = visit_holding(doc, user, |v| v.labour.iter().any(|l| l.id == entry))?;
                Ok(doc.void_labour(ctx, &visit, &entry)?.to_string())
            })
        })
    }

    /// Record a part used from the van on the current visit; returns the line id. A part the
    /// catalog marks serial-tracked needs its serial number (one unit per line).
    pub fn consume_part(&self, order_id: String, part: PartUse) -> Result<String> {
        guard(|| {
            if let Some(item) = self.catalog_item(part.sku.trim())?
                && item.serial_tracked
                && part.serial.as_deref().is_none_or(|s| s.trim().is_empty())
            {
                return Err(ApiError::input(format!(
                    "{} is serial-tracked: record the installed serial number",
                    item.sku
                )));
            }
            self.edit(&order_id, |doc, ctx, user| {
                let visit = require_visit(doc, user)?;
                let line = NewConsumption {
                    sku: part.sku.clone(),
                    qty: part.qty,
                    serial: part.serial.clone(),
                    replaced_serial: part.replaced_serial.clone(),
                };
                Ok(doc.consume_part(ctx, &visit, &line)?.to_string())
            })
        })
    }

    /// Cancel a consumption line (appends its void line, posted to the ledger as the reverse
    /// movement); returns the void line's id.
    pub fn void_part(&self, order_id: String, line_id: String) -> Result<String> {
        guard(|| {
            let line = parse_line(&line_id)?;
            self.edit(&order_id, |doc, ctx, user| {
                let visit = visit_holding(doc, user, |v| v.parts.iter().any(|l| l.id == line))?;
                Ok(doc.void_consumption(ctx, &visit, &line)?.to_string())
            })
        })
    }

    /// Ask the warehouse for parts for this order; returns the request id.
    pub fn request_parts(
        &self,
        order_id: String,
        sku: String,
        qty: i64,
        note: String,
    ) -> Result<String> {
        guard(|| {
            self.edit(&order_id, |doc, ctx, _| {
                Ok(doc.request_parts(ctx, &sku, qty, &note)?.to_string())
            })
        })
    }

    /// Keep a form template on the device (templates come from the organisation's
    /// configuration; the app hands them over). Replaces the same id and version.
    pub fn save_form_template(&self, template: FormTemplate) -> Result<()> {
        guard(|| {
            if template.id.trim().is_empty() || template.fields.is_empty() {
                return Err(ApiError::input("a template needs an id and fields"));
            }
            let core = template.to_core();
            let json = serde_json::to_vec(&core)
                .map_err(|e| ApiError::internal(format!("template encoding: {e}")))?;
            self.local()?
                .store
                .write(|tx| tx.set_meta(&template_key(&core.id, core.version), &json))?;
            Ok(())
        })
    }

    /// A template kept on the device.
    pub fn form_template(&self, template_id: String, version: u32) -> Result<Option<FormTemplate>> {
        guard(|| {
            Ok(self
                .template(&template_id, version)?
                .map(|t| FormTemplate::of(&t)))
        })
    }

    /// Fill the current visit's report against this template (kept on the device).
    pub fn use_form_template(
        &self,
        order_id: String,
        template_id: String,
        version: u32,
    ) -> Result<()> {
        guard(|| {
            if self.template(&template_id, version)?.is_none() {
                return Err(ApiError::not_found(format!(
                    "form template {template_id}@{version} is not on this device"
                )));
            }
            self.edit(&order_id, |doc, ctx, user| {
                let visit = require_visit(doc, user)?;
                Ok(doc.set_report_template(ctx, &visit, &template_id, version)?)
            })
        })
    }

    /// Answer one field of the current visit's report, checked against its template.
    pub fn set_answer(&self, order_id: String, key: String, value: FormValue) -> Result<()> {
        guard(|| {
            let value = value.to_core();
            self.edit(&order_id, |doc, ctx, user| {
                let visit = require_visit(doc, user)?;
                let report = doc.read_visit(&visit)?.report;
                let (tid, tver) = report.template.ok_or_else(|| {
                    ApiError::state("choose the report's form template first (use_form_template)")
                })?;
                let template = self.template(&tid, tver)?.ok_or_else(|| {
                    ApiError::not_found(format!("form template {tid}@{tver} is not on this device"))
                })?;
                template
                    .check_answer(&key, &value)
                    .map_err(|e| ApiError::input(e.to_string()))?;
                Ok(doc.set_answer(ctx, &visit, &key, &value)?)
            })
        })
    }

    /// Every problem of the current visit's report against its template (empty: complete).
    pub fn validate_report(&self, order_id: String) -> Result<Vec<FieldProblem>> {
        guard(|| {
            let id = crate::client::parse_order(&order_id)?;
            let user = self.user()?;
            let doc = self.local()?.store.load(&id)?;
            self.report_problems(&doc, user)
        })
    }

    /// Replace the current visit's notes (merged as text with concurrent edits).
    pub fn set_notes(&self, order_id: String, text: String) -> Result<()> {
        guard(|| {
            self.edit(&order_id, |doc, ctx, user| {
                let visit = require_visit(doc, user)?;
                Ok(doc.set_notes(ctx, &visit, &text)?)
            })
        })
    }

    /// The fault code of the current visit (1 to 64 characters).
    pub fn set_fault_code(&self, order_id: String, code: String) -> Result<()> {
        guard(|| {
            self.edit(&order_id, |doc, ctx, user| {
                let visit = require_visit(doc, user)?;
                Ok(doc.set_fault_code(ctx, &visit, &code)?)
            })
        })
    }

    /// The resolution code of the current visit (1 to 64 characters).
    pub fn set_resolution_code(&self, order_id: String, code: String) -> Result<()> {
        guard(|| {
            self.edit(&order_id, |doc, ctx, user| {
                let visit = require_visit(doc, user)?;
                Ok(doc.set_resolution_code(ctx, &visit, &code)?)
            })
        })
    }
}

impl FieldClient {
    pub(crate) fn template(&self, id: &str, version: u32) -> Result<Option<forms::FormTemplate>> {
        let bytes = self
            .local()?
            .store
            .read(|tx| tx.meta(&template_key(id, version)))?;
        bytes
            .map(|b| {
                serde_json::from_slice(&b).map_err(|e| {
                    ApiError::storage(format!("stored form template {id}@{version}: {e}"))
                })
            })
            .transpose()
    }

    /// Problems of `user`'s current visit's report. No template: nothing to check.
    fn report_problems(&self, doc: &WorkOrderDoc, user: UserId) -> Result<Vec<FieldProblem>> {
        let Some(visit) = current_visit(doc, user) else {
            return Ok(Vec::new());
        };
        let report = doc.read_visit(&visit)?.report;
        let Some((tid, tver)) = report.template else {
            return Ok(Vec::new());
        };
        let template = self.template(&tid, tver)?.ok_or_else(|| {
            ApiError::not_found(format!("form template {tid}@{tver} is not on this device"))
        })?;
        let answers: BTreeMap<_, _> = report.answers;
        Ok(match template.validate(&answers) {
            Ok(()) => Vec::new(),
            Err(errors) => errors
                .into_iter()
                .map(|e| FieldProblem {
                    key: e.key,
                    reason: e.reason,
                })
                .collect(),
        })
    }

    fn check_report_complete(&self, doc: &WorkOrderDoc, user: UserId) -> Result<()> {
        let problems = self.report_problems(doc, user)?;
        if problems.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.key, p.reason))
            .collect();
        Err(ApiError::ReportIncomplete {
            reason: format!("the service report is incomplete ({})", list.join("; ")),
        })
    }
}

fn template_key(id: &str, version: u32) -> String {
    format!("{META_TEMPLATE_PREFIX}{id}@{version}")
}

/// `user`'s visit that has no check-out yet, if any.
pub(crate) fn open_visit(doc: &WorkOrderDoc, user: UserId) -> Option<VisitId> {
    current_visit(doc, user).filter(|v| {
        doc.read_visit(v)
            .map(|visit| visit.check_out.is_none())
            .unwrap_or(false)
    })
}

/// The visit report and parts go on: the open one, else the latest (finishing the report after
/// checking out is normal).
pub(crate) fn require_visit(doc: &WorkOrderDoc, user: UserId) -> Result<VisitId> {
    current_visit(doc, user).ok_or_else(|| ApiError::state("check in to the order first"))
}

/// The visit of `user` whose lines satisfy `has` (voiding or stopping a line of an older visit).
fn visit_holding(
    doc: &WorkOrderDoc,
    user: UserId,
    has: impl Fn(&sync_core::workorder::Visit) -> bool,
) -> Result<VisitId> {
    doc.visit_ids()
        .into_iter()
        .filter_map(|id| doc.read_visit(&id).ok())
        .find(|v| v.engineer == user && has(v))
        .map(|v| v.id)
        .ok_or_else(|| ApiError::not_found("no such line on your visits of this order"))
}

/// Used by photos and signatures: the visit to attach to.
pub(crate) fn visit_for_media(doc: &WorkOrderDoc, ctx: &EditContext) -> Result<VisitId> {
    require_visit(doc, ctx.user)
}
