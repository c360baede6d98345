//! Visits: check-in/out, labour, parts consumption and the service report. Every method makes
//! targeted puts and inserts; business lists (labour, parts, photos) are append-only.

use super::model::*;
use super::paths as p;
use crate::{ContentHash, EditContext, Error, LineId, Result, Status, VisitId, WorkOrderDoc};
use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ROOT, ReadDoc, ScalarValue};

impl WorkOrderDoc {
    /// Open a new visit for the acting engineer and return its id.
    pub fn start_visit(&mut self, ctx: &EditContext) -> Result<VisitId> {
        let visits = self.obj(ROOT, p::VISITS)?;
        let id = VisitId::new();
        let doc = self.am();
        let v = doc.put_object(&visits, id.to_string(), ObjType::Map)?;
        doc.put(&v, p::V_ID, id.to_string())?;
        doc.put(&v, p::V_ENGINEER, ctx.user.to_string())?;
        doc.put(&v, p::V_CREATED_AT, ctx.device_time_ms)?;
        doc.put_object(&v, p::V_LABOUR, ObjType::List)?;
        doc.put_object(&v, p::V_PARTS, ObjType::List)?;
        let r = doc.put_object(&v, p::V_REPORT, ObjType::Map)?;
        doc.put_object(&r, p::R_ANSWERS, ObjType::Map)?;
        doc.put_object(&r, p::R_NOTES, ObjType::Text)?;
        doc.put_object(&r, p::R_PHOTOS, ObjType::List)?;
        self.record_event(ctx, "visit_started", &id.to_string())?;
        Ok(id)
    }

    /// The visit object, or `NotFound`.
    pub(crate) fn visit_obj(&self, visit: &VisitId) -> Result<ObjId> {
        let visits = self.obj(ROOT, p::VISITS)?;
        self.obj(&visits, &visit.to_string())
            .map_err(|_| Error::NotFound(format!("visit {visit}")))
    }

    fn report_obj(&self, visit: &VisitId) -> Result<ObjId> {
        let v = self.visit_obj(visit)?;
        self.obj(&v, p::V_REPORT)
    }

    /// Check in on site. Moves the order to `on_site` when the status machine allows it. The
    /// geofence verdict (`distance_m`, `off_site`) is computed by the caller from the site's
    /// coordinates; an off-site check-in still counts and is recorded as such.
    pub fn check_in(
        &mut self,
        ctx: &EditContext,
        visit: &VisitId,
        position: Option<GeoPoint>,
        distance_m: Option<f64>,
        off_site: bool,
    ) -> Result<()> {
        let v = self.visit_obj(visit)?;
        if self.doc_ref().get(&v, p::V_CHECK_IN)?.is_some() {
            return Err(Error::InvalidInput("visit is already checked in".into()));
        }
        let from = self.status();
        let to_on_site = crate::rules::status::allowed(&from, &Status::OnSite, ctx.role);
        self.put_checkpoint(ctx, &v, p::V_CHECK_IN, position, distance_m, off_site)?;
        if to_on_site {
            self.set_status(ctx, Status::OnSite)?;
        }
        let detail = if off_site {
            format!("{visit} off-site {:.0} m", distance_m.unwrap_or(-1.0))
        } else {
            visit.to_string()
        };
        self.record_event(ctx, "check_in", &detail)
    }

    /// Check out. Running labour timers are stopped at the check-out time.
    pub fn check_out(
        &mut self,
        ctx: &EditContext,
        visit: &VisitId,
        position: Option<GeoPoint>,
        distance_m: Option<f64>,
        off_site: bool,
    ) -> Result<()> {
        let v = self.visit_obj(visit)?;
        if self.doc_ref().get(&v, p::V_CHECK_IN)?.is_none() {
            return Err(Error::InvalidInput("check in before checking out".into()));
        }
        if self.doc_ref().get(&v, p::V_CHECK_OUT)?.is_some() {
            return Err(Error::InvalidInput("visit is already checked out".into()));
        }
        let running: Vec<LineId> = self
            .read_visit(visit)?
            .labour
            .iter()
            .filter(|l| l.end_ms.is_none() && l.voids.is_none())
            .map(|l| l.id)
            .collect();
        for id in running {
            self.stop_labour(ctx, visit, &id)?;
        }
        self.put_checkpoint(ctx, &v, p::V_CHECK_OUT, position, distance_m, off_site)?;
        self.record_event(ctx, "check_out", &visit.to_string())
    }

    fn put_checkpoint(
        &mut self,
        ctx: &EditContext,
        v: &ObjId,
        key: &str,
        position: Option<GeoPoint>,
        distance_m: Option<f64>,
        off_site: bool,
    ) -> Result<()> {
        let doc = self.am();
        let c = doc.put_object(v, key, ObjType::Map)?;
        doc.put(&c, "at", ctx.device_time_ms)?;
        doc.put(&c, "hlc", ctx.hlc.encode())?;
        if let Some(pos) = position {
            doc.put(&c, "lat", pos.lat)?;
            doc.put(&c, "lon", pos.lon)?;
            if let Some(acc) = pos.accuracy_m {
                doc.put(&c, "accuracy", acc)?;
            }
        }
        if let Some(d) = distance_m {
            doc.put(&c, "distance", d)?;
        }
        doc.put(&c, "off_site", off_site)?;
        Ok(())
    }

    /// Start a labour timer; returns the entry's id.
    pub fn start_labour(
        &mut self,
        ctx: &EditContext,
        visit: &VisitId,
        note: &str,
    ) -> Result<LineId> {
        self.add_labour(ctx, visit, ctx.device_time_ms, None, note, None)
    }

    /// Stop a running timer at the acting device's time.
    pub fn stop_labour(
        &mut self,
        ctx: &EditContext,
        visit: &VisitId,
        entry: &LineId,
    ) -> Result<()> {
        let (obj, current) = self.find_line(visit, p::V_LABOUR, entry)?;
        if current.end_ms.is_some() {
            return Err(Error::InvalidInput("timer already stopped".into()));
        }
        let end = ctx.device_time_ms.max(current.start_ms);
        self.am().put(&obj, "end", end)?;
        self.record_event(ctx, "labour_stopped", &entry.to_string())
    }

    /// Record labour after the fact.
    pub fn add_manual_labour(
        &mut self,
        ctx: &EditContext,
        visit: &VisitId,
        start_ms: i64,
        end_ms: i64,
        note: &str,
    ) -> Result<LineId> {
        if end_ms <= start_ms {
            return Err(Error::InvalidInput(
                "labour must end after it starts".into(),
            ));
        }
        self.add_labour(ctx, visit, start_ms, Some(end_ms), note, None)
    }

    /// Cancel a labour entry by appending a void line.
    pub fn void_labour(
        &mut self,
        ctx: &EditContext,
        visit: &VisitId,
        entry: &LineId,
    ) -> Result<LineId> {
        let v = self.read_visit(visit)?;
        let line = v
            .labour
            .iter()
            .find(|l| l.id == *entry && l.voids.is_none())
            .ok_or_else(|| Error::NotFound(format!("labour entry {entry}")))?;
        if v.labour.iter().any(|l| l.voids == Some(*entry)) {
            return Err(Error::InvalidInput("labour entry is already void".into()));
        }
        let (start, end) = (line.start_ms, line.end_ms.or(Some(line.start_ms)));
        self.add_labour(ctx, visit, start, end, "void", Some(*entry))
    }

    fn add_labour(
        &mut self,
        ctx: &EditContext,
        visit: &VisitId,
        start_ms: i64,
        end_ms: Option<i64>,
        note: &str,
        voids: Option<LineId>,
    ) -> Result<LineId> {
        let v = self.visit_obj(visit)?;
        let list = self.obj(&v, p::V_LABOUR)?;
        let id = LineId::new();
        let doc = self.am();
        let len = doc.length(&list);
        let e = doc.insert_object(&list, len, ObjType::Map)?;
        doc.put(&e, "id", id.to_string())?;
        doc.put(&e, "engineer", ctx.user.to_string())?;
        doc.put(&e, "start", start_ms)?;
        match end_ms {
            Some(end) => doc.put(&e, "end", end)?,
            None => doc.put(&e, "end", ScalarValue::Null)?,
        }
        doc.put(&e, "note", note)?;
        if let Some(voided) = voids {
            doc.put(&e, "voids", voided.to_string())?;
        }
        let kind = if voids.is_some() {
            "labour_voided"
        } else {
            "labour"
        };
        self.record_event(ctx, kind, &id.to_string())?;
        Ok(id)
    }

    /// Record a part used from the van. Quantity must be positive; serial numbers are trimmed.
    pub fn consume_part(
        &mut self,
        ctx: &EditContext,
        visit: &VisitId,
        line: &NewConsumption,
    ) -> Result<LineId> {
        crate::rules::consumption::validate_new(line)?;
        self.add_consumption(ctx, visit, line, None)
    }

    /// Cancel a consumption line by appending its void line (same SKU, quantity and serial).
    pub fn void_consumption(
        &mut self,
        ctx: &EditContext,
        visit: &VisitId,
        line: &LineId,
    ) -> Result<LineId> {
        let v = self.read_visit(visit)?;
        let original = crate::rules::consumption::voidable(&v.parts, line)?.clone();
        let new = NewConsumption {
            sku: original.sku,
            qty: original.qty,
            serial: original.serial,
            replaced_serial: original.replaced_serial,
        };
        self.add_consumption(ctx, visit, &new, Some(*line))
    }

    fn add_consumption(
        &mut self,
        ctx: &EditContext,
        visit: &VisitId,
        line: &NewConsumption,
        voids: Option<LineId>,
    ) -> Result<LineId> {
        let v = self.visit_obj(visit)?;
        let list = self.obj(&v, p::V_PARTS)?;
        let id = LineId::new();
        let doc = self.am();
        let len = doc.length(&list);
        let e = doc.insert_object(&list, len, ObjType::Map)?;
        doc.put(&e, "id", id.to_string())?;
        doc.put(&e, "sku", line.sku.trim())?;
        doc.put(&e, "qty", line.qty)?;
        if let Some(s) = &line.serial {
            doc.put(&e, "serial", s.trim())?;
        }
        if let Some(s) = &line.replaced_serial {
            doc.put(&e, "replaced_serial", s.trim())?;
        }
        doc.put(&e, "engineer", ctx.user.to_string())?;
        doc.put(&e, "at", ctx.device_time_ms)?;
        doc.put(&e, "hlc", ctx.hlc.encode())?;
        if let Some(voided) = voids {
            doc.put(&e, "voids", voided.to_string())?;
        }
        let kind = if voids.is_some() {
            "part_voided"
        } else {
            "part_used"
        };
        self.record_event(
            ctx,
            kind,
            &format!("{} x{} ({id})", line.sku.trim(), line.qty),
        )?;
        Ok(id)
    }

    /// Say which form template (id, version) the report's answers follow.
    pub fn set_report_template(
        &mut self,
        ctx: &EditContext,
        visit: &VisitId,
        template_id: &str,
        version: u32,
    ) -> Result<()> {
        let r = self.report_obj(visit)?;
        self.am().put(&r, p::R_TEMPLATE_ID, template_id)?;
        self.am()
            .put(&r, p::R_TEMPLATE_VERSION, i64::from(version))?;
        self.record_event(ctx, "report_template", &format!("{template_id}@{version}"))
    }

    /// Answer one form field. Validate against the template first with
    /// [`crate::rules::forms::FormTemplate::check_answer`].
    pub fn set_answer(
        &mut self,
        ctx: &EditContext,
        visit: &VisitId,
        key: &str,
        value: &FormValue,
    ) -> Result<()> {
        let r = self.report_obj(visit)?;
        let answers = self.obj(&r, p::R_ANSWERS)?;
        let doc = self.am();
        // Each answer is a small map so its type survives and a concurrent answer is detectable.
        let a = doc.put_object(&answers, key, ObjType::Map)?;
        let (kind, scalar): (&str, ScalarValue) = match value {
            FormValue::Text(s) => ("text", s.as_str().into()),
            FormValue::Integer(i) => ("integer", (*i).into()),
            FormValue::Number(n) => ("number", (*n).into()),
            FormValue::Bool(b) => ("bool", (*b).into()),
            FormValue::Choice(c) => ("choice", c.as_str().into()),
        };
        doc.put(&a, "type", kind)?;
        doc.put(&a, "value", scalar)?;
        doc.put(&a, "hlc", ctx.hlc.encode())?;
        self.record_event(ctx, "answer", key)
    }

    /// Replace the visit's notes with `text`. Stored as Automerge text and updated by diff, so
    /// concurrent note edits from two devices both survive.
    pub fn set_notes(&mut self, ctx: &EditContext, visit: &VisitId, text: &str) -> Result<()> {
        let r = self.report_obj(visit)?;
        let notes = self.obj(&r, p::R_NOTES)?;
        self.am().update_text(&notes, text)?;
        self.record_event(ctx, "notes", "")
    }

    /// Set the fault code (from the organisation's code list).
    pub fn set_fault_code(&mut self, ctx: &EditContext, visit: &VisitId, code: &str) -> Result<()> {
        self.set_report_code(ctx, visit, p::R_FAULT_CODE, code)
    }

    /// Set the resolution code.
    pub fn set_resolution_code(
        &mut self,
        ctx: &EditContext,
        visit: &VisitId,
        code: &str,
    ) -> Result<()> {
        self.set_report_code(ctx, visit, p::R_RESOLUTION_CODE, code)
    }

    fn set_report_code(
        &mut self,
        ctx: &EditContext,
        visit: &VisitId,
        key: &str,
        code: &str,
    ) -> Result<()> {
        let code = code.trim();
        if code.is_empty() || code.len() > 64 {
            return Err(Error::InvalidInput(format!(
                "{key} must be 1-64 characters"
            )));
        }
        let r = self.report_obj(visit)?;
        self.am().put(&r, key, code)?;
        self.record_event(ctx, key, &format!("{visit}={code}"))
    }

    /// Reference a photo (already stored as a content-addressed blob) from the report.
    pub fn add_photo(
        &mut self,
        ctx: &EditContext,
        visit: &VisitId,
        hash: ContentHash,
        caption: &str,
    ) -> Result<LineId> {
        let r = self.report_obj(visit)?;
        let list = self.obj(&r, p::R_PHOTOS)?;
        let id = LineId::new();
        let doc = self.am();
        let len = doc.length(&list);
        let e = doc.insert_object(&list, len, ObjType::Map)?;
        doc.put(&e, "id", id.to_string())?;
        doc.put(&e, "hash", hash.to_hex())?;
        doc.put(&e, "caption", caption)?;
        doc.put(&e, "taken_at", ctx.device_time_ms)?;
        self.record_event(ctx, "photo", &hash.to_hex())?;
        Ok(id)
    }

    /// Record the customer's signature (an image blob) and the signer's name. A visit is signed
    /// once; a second signature is refused.
    pub fn sign(
        &mut self,
        ctx: &EditContext,
        visit: &VisitId,
        hash: ContentHash,
        signer_name: &str,
    ) -> Result<()> {
        let signer_name = signer_name.trim();
        if signer_name.is_empty() {
            return Err(Error::InvalidInput("the signer's name is required".into()));
        }
        let r = self.report_obj(visit)?;
        if self.doc_ref().get(&r, p::R_SIGNATURE)?.is_some() {
            return Err(Error::InvalidInput("the visit is already signed".into()));
        }
        let doc = self.am();
        let s = doc.put_object(&r, p::R_SIGNATURE, ObjType::Map)?;
        doc.put(&s, "hash", hash.to_hex())?;
        doc.put(&s, "signer", signer_name)?;
        doc.put(&s, "at", ctx.device_time_ms)?;
        doc.put(&s, "hlc", ctx.hlc.encode())?;
        self.record_event(ctx, "signed", &hash.to_hex())
    }

    /// Ask the warehouse for parts (works offline; the server sees it after sync).
    pub fn request_parts(
        &mut self,
        ctx: &EditContext,
        sku: &str,
        qty: i64,
        note: &str,
    ) -> Result<LineId> {
        let sku = sku.trim();
        if sku.is_empty() || qty <= 0 {
            return Err(Error::InvalidInput(
                "a parts request needs a SKU and a quantity > 0".into(),
            ));
        }
        let list = self.obj(ROOT, p::PARTS_REQUESTS)?;
        let id = LineId::new();
        let doc = self.am();
        let len = doc.length(&list);
        let e = doc.insert_object(&list, len, ObjType::Map)?;
        doc.put(&e, "id", id.to_string())?;
        doc.put(&e, "sku", sku)?;
        doc.put(&e, "qty", qty)?;
        doc.put(&e, "note", note)?;
        doc.put(&e, "by", ctx.user.to_string())?;
        doc.put(&e, "at", ctx.device_time_ms)?;
        self.record_event(ctx, "parts_requested", &format!("{sku} x{qty} ({id})"))?;
        Ok(id)
    }

    /// Warehouse decision on a parts request: `approved_qty` 0 rejects, less than asked partly
    /// approves. Decided once.
    pub fn decide_parts_request(
        &mut self,
        ctx: &EditContext,
        request: &LineId,
        approved_qty: i64,
        note: &str,
    ) -> Result<()> {
        let list = self.obj(ROOT, p::PARTS_REQUESTS)?;
        let (obj, req) = self
            .read_parts_requests_with_objs(&list)
            .into_iter()
            .find(|(_, r)| r.id == *request)
            .ok_or_else(|| Error::NotFound(format!("parts request {request}")))?;
        if req.decision.is_some() {
            return Err(Error::InvalidInput("parts request already decided".into()));
        }
        if approved_qty < 0 || approved_qty > req.qty {
            return Err(Error::InvalidInput(format!(
                "approved quantity must be between 0 and {}",
                req.qty
            )));
        }
        let doc = self.am();
        let d = doc.put_object(&obj, "decision", ObjType::Map)?;
        doc.put(&d, "approved_qty", approved_qty)?;
        doc.put(&d, "by", ctx.user.to_string())?;
        doc.put(&d, "at", ctx.device_time_ms)?;
        doc.put(&d, "note", note)?;
        self.record_event(
            ctx,
            "parts_decided",
            &format!("{request} approved {approved_qty}"),
        )
    }

    /// Find a line by id in one of a visit's append-only lists.
    fn find_line(
        &self,
        visit: &VisitId,
        list_key: &str,
        id: &LineId,
    ) -> Result<(ObjId, LabourEntry)> {
        let v = self.visit_obj(visit)?;
        let list = self.obj(&v, list_key)?;
        for i in 0..self.doc_ref().length(&list) {
            if let Some((_, obj)) = self.doc_ref().get(&list, i)?
                && self.opt_str(&obj, "id").as_deref() == Some(id.to_string().as_str())
            {
                let entry = self.read_labour(&obj)?;
                return Ok((obj, entry));
            }
        }
        Err(Error::NotFound(format!("line {id}")))
    }
}
