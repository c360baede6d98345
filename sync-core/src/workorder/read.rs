//! Reading a work order into plain records. Missing or malformed optional fields read as absent:
//! a document written by an older or newer app still reads.

use super::model::*;
use super::paths as p;
use crate::{ContentHash, Error, Hlc, LineId, Result, UserId, VisitId, WorkOrderDoc};
use automerge::{ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

impl WorkOrderDoc {
    /// The whole order as plain records.
    pub fn read(&self) -> Result<WorkOrder> {
        // Containers added in later schema versions may be absent: they read as empty.
        let mut visits = Vec::new();
        for id in self.visit_ids() {
            visits.push(self.read_visit(&id)?);
        }
        visits.sort_by_key(|v| (v.created_at_ms, v.id));
        let events = self.events()?; // already in causal order
        let parts_requests = self.parts_requests();
        Ok(WorkOrder {
            id: self.id()?,
            org: self.org()?,
            schema_version: self.schema_version(),
            status: self.status(),
            header: self.header()?,
            dispatch: self.dispatch()?,
            visits,
            parts_requests,
            events,
            flags: self.flags(),
        })
    }

    /// One visit.
    pub fn read_visit(&self, visit: &VisitId) -> Result<Visit> {
        let v = self.visit_obj(visit)?;
        let engineer = self
            .opt_str(&v, p::V_ENGINEER)
            .and_then(|s| s.parse::<UserId>().ok())
            .ok_or_else(|| Error::InvalidDocument("visit without engineer".into()))?;
        let labour = self
            .list_items(&v, p::V_LABOUR)
            .iter()
            .filter_map(|o| self.read_labour(o).ok())
            .collect();
        let parts = self
            .list_items(&v, p::V_PARTS)
            .iter()
            .filter_map(|o| self.read_consumption(o).ok())
            .collect();
        Ok(Visit {
            id: *visit,
            engineer,
            created_at_ms: self.opt_i64(&v, p::V_CREATED_AT).unwrap_or_default(),
            check_in: self.read_checkpoint(&v, p::V_CHECK_IN),
            check_out: self.read_checkpoint(&v, p::V_CHECK_OUT),
            labour,
            parts,
            report: self.read_report(&v),
        })
    }

    /// Every visit's consumption lines with their visit, without reading the rest of the order
    /// (the parts ledger's view; [`Self::read`] reads everything, the event log included).
    pub fn consumption_lines(&self) -> Vec<(VisitId, ConsumptionLine)> {
        let mut out = Vec::new();
        for visit in self.visit_ids() {
            let Ok(v) = self.visit_obj(&visit) else {
                continue;
            };
            out.extend(
                self.list_items(&v, p::V_PARTS)
                    .iter()
                    .filter_map(|o| self.read_consumption(o).ok())
                    .map(|line| (visit, line)),
            );
        }
        out
    }

    /// The order's parts requests, oldest first.
    pub fn parts_requests(&self) -> Vec<PartsRequest> {
        match self.obj(ROOT, p::PARTS_REQUESTS) {
            Ok(list) => self
                .read_parts_requests_with_objs(&list)
                .into_iter()
                .map(|(_, r)| r)
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Consumption lines (of every visit) that are not in the document as of `heads`: what a
    /// device recorded and the server has not acknowledged yet. Empty `heads`: every line.
    pub fn consumption_since(
        &mut self,
        heads: &[automerge::ChangeHash],
    ) -> Result<Vec<ConsumptionLine>> {
        let all: Vec<ConsumptionLine> = self
            .visit_ids()
            .iter()
            .filter_map(|v| self.read_visit(v).ok())
            .flat_map(|v| v.parts)
            .collect();
        if heads.is_empty() {
            return Ok(all);
        }
        let mut then = self.clone();
        then.am().isolate(heads);
        let known: std::collections::HashSet<LineId> = then
            .visit_ids()
            .iter()
            .filter_map(|v| then.read_visit(v).ok())
            .flat_map(|v| v.parts)
            .map(|l| l.id)
            .collect();
        Ok(all.into_iter().filter(|l| !known.contains(&l.id)).collect())
    }

    /// Ids of all visits.
    pub fn visit_ids(&self) -> Vec<VisitId> {
        let Ok(visits) = self.obj(ROOT, p::VISITS) else {
            return Vec::new();
        };
        self.doc_ref()
            .keys(&visits)
            .filter_map(|k| k.parse().ok())
            .collect()
    }

    /// The event log in causal (HLC) order.
    pub fn events(&self) -> Result<Vec<Event>> {
        let mut out: Vec<Event> = self
            .list_items(ROOT, p::EVENTS)
            .iter()
            .filter_map(|e| {
                Some(Event {
                    id: self.opt_str(e, "id")?.parse().ok()?,
                    hlc: Hlc::decode(&self.opt_str(e, "hlc")?).ok()?,
                    device_time_ms: self.opt_i64(e, "device_time").unwrap_or_default(),
                    user: self.opt_str(e, "user").unwrap_or_default(),
                    role: self.opt_str(e, "role").unwrap_or_default(),
                    kind: self.opt_str(e, "kind").unwrap_or_default(),
                    detail: self.opt_str(e, "detail").unwrap_or_default(),
                })
            })
            .collect();
        out.sort_by(|a, b| a.hlc.cmp(&b.hlc).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Flags (conflicts, refused changes), open ones first.
    pub fn flags(&self) -> Vec<Flag> {
        let Ok(flags) = self.obj(ROOT, p::FLAGS) else {
            return Vec::new();
        };
        let mut out: Vec<Flag> = self
            .doc_ref()
            .keys(&flags)
            .filter_map(|k| {
                let o = self.obj(&flags, &k).ok()?;
                Some(Flag {
                    id: k,
                    kind: self.opt_str(&o, "kind").unwrap_or_default(),
                    field: self.opt_str(&o, "field").unwrap_or_default(),
                    detail: self.opt_str(&o, "detail").unwrap_or_default(),
                    raised_hlc: self
                        .opt_str(&o, "hlc")
                        .and_then(|h| Hlc::decode(&h).ok())
                        .unwrap_or(Hlc::ZERO),
                    resolved_by: self.opt_str(&o, "resolved_by"),
                })
            })
            .collect();
        out.sort_by(|a, b| {
            (a.resolved_by.is_some(), a.raised_hlc, &a.id).cmp(&(
                b.resolved_by.is_some(),
                b.raised_hlc,
                &b.id,
            ))
        });
        out
    }

    pub(crate) fn list_items(&self, parent: impl AsRef<ObjId>, key: &str) -> Vec<ObjId> {
        let Ok(list) = self.obj(parent, key) else {
            return Vec::new();
        };
        let doc = self.doc_ref();
        (0..doc.length(&list))
            .filter_map(|i| match doc.get(&list, i) {
                Ok(Some((Value::Object(ObjType::Map), id))) => Some(id),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn read_labour(&self, o: &ObjId) -> Result<LabourEntry> {
        let bad = || Error::InvalidDocument("malformed labour entry".into());
        Ok(LabourEntry {
            id: self
                .opt_str(o, "id")
                .and_then(|s| s.parse().ok())
                .ok_or_else(bad)?,
            engineer: self
                .opt_str(o, "engineer")
                .and_then(|s| s.parse().ok())
                .ok_or_else(bad)?,
            start_ms: self.opt_i64(o, "start").ok_or_else(bad)?,
            end_ms: self.opt_i64(o, "end"),
            note: self.opt_str(o, "note").unwrap_or_default(),
            voids: self.opt_str(o, "voids").and_then(|s| s.parse().ok()),
        })
    }

    pub(crate) fn read_consumption(&self, o: &ObjId) -> Result<ConsumptionLine> {
        let bad = || Error::InvalidDocument("malformed consumption line".into());
        Ok(ConsumptionLine {
            id: self
                .opt_str(o, "id")
                .and_then(|s| s.parse().ok())
                .ok_or_else(bad)?,
            sku: self.opt_str(o, "sku").ok_or_else(bad)?,
            qty: self.opt_i64(o, "qty").ok_or_else(bad)?,
            serial: self.opt_str(o, "serial"),
            replaced_serial: self.opt_str(o, "replaced_serial"),
            engineer: self
                .opt_str(o, "engineer")
                .and_then(|s| s.parse().ok())
                .ok_or_else(bad)?,
            at_ms: self.opt_i64(o, "at").unwrap_or_default(),
            hlc: self
                .opt_str(o, "hlc")
                .and_then(|h| Hlc::decode(&h).ok())
                .unwrap_or(Hlc::ZERO),
            voids: self.opt_str(o, "voids").and_then(|s| s.parse().ok()),
        })
    }

    fn read_checkpoint(&self, v: &ObjId, key: &str) -> Option<CheckPoint> {
        let c = self.obj(v, key).ok()?;
        let position = match (self.opt_f64(&c, "lat"), self.opt_f64(&c, "lon")) {
            (Some(lat), Some(lon)) => Some(GeoPoint {
                lat,
                lon,
                accuracy_m: self.opt_f64(&c, "accuracy"),
            }),
            _ => None,
        };
        Some(CheckPoint {
            at_ms: self.opt_i64(&c, "at").unwrap_or_default(),
            hlc: self
                .opt_str(&c, "hlc")
                .and_then(|h| Hlc::decode(&h).ok())
                .unwrap_or(Hlc::ZERO),
            position,
            distance_m: self.opt_f64(&c, "distance"),
            off_site: self.opt_bool(&c, "off_site").unwrap_or(false),
        })
    }

    fn read_report(&self, v: &ObjId) -> ServiceReport {
        let Ok(r) = self.obj(v, p::V_REPORT) else {
            return ServiceReport::default();
        };
        let template = match (
            self.opt_str(&r, p::R_TEMPLATE_ID),
            self.opt_i64(&r, p::R_TEMPLATE_VERSION),
        ) {
            (Some(id), Some(ver)) => Some((id, u32::try_from(ver).unwrap_or_default())),
            _ => None,
        };
        let mut answers = std::collections::BTreeMap::new();
        if let Ok(a) = self.obj(&r, p::R_ANSWERS) {
            for key in self.doc_ref().keys(&a) {
                if let Some(value) = self.obj(&a, &key).ok().and_then(|o| self.read_answer(&o)) {
                    answers.insert(key, value);
                }
            }
        }
        let photos = self
            .list_items(&r, p::R_PHOTOS)
            .iter()
            .filter_map(|o| {
                Some(BlobRef {
                    id: self.opt_str(o, "id")?.parse().ok()?,
                    hash: ContentHash::from_hex(&self.opt_str(o, "hash")?).ok()?,
                    caption: self.opt_str(o, "caption").unwrap_or_default(),
                    taken_at_ms: self.opt_i64(o, "taken_at").unwrap_or_default(),
                })
            })
            .collect();
        let signature = self.obj(&r, p::R_SIGNATURE).ok().and_then(|s| {
            Some(Signature {
                hash: ContentHash::from_hex(&self.opt_str(&s, "hash")?).ok()?,
                signer_name: self.opt_str(&s, "signer").unwrap_or_default(),
                signed_at_ms: self.opt_i64(&s, "at").unwrap_or_default(),
                hlc: self
                    .opt_str(&s, "hlc")
                    .and_then(|h| Hlc::decode(&h).ok())
                    .unwrap_or(Hlc::ZERO),
            })
        });
        ServiceReport {
            template,
            answers,
            notes: self.text(&r, p::R_NOTES),
            fault_code: self.opt_str(&r, p::R_FAULT_CODE),
            resolution_code: self.opt_str(&r, p::R_RESOLUTION_CODE),
            photos,
            signature,
        }
    }

    pub(crate) fn read_answer(&self, o: &ObjId) -> Option<FormValue> {
        let kind = self.opt_str(o, "type")?;
        Some(match kind.as_str() {
            "text" => FormValue::Text(self.opt_str(o, "value")?),
            "choice" => FormValue::Choice(self.opt_str(o, "value")?),
            "integer" => FormValue::Integer(self.opt_i64(o, "value")?),
            "number" => FormValue::Number(self.opt_f64(o, "value")?),
            "bool" => FormValue::Bool(self.opt_bool(o, "value")?),
            _ => return None,
        })
    }

    pub(crate) fn read_parts_requests_with_objs(&self, list: &ObjId) -> Vec<(ObjId, PartsRequest)> {
        let doc = self.doc_ref();
        (0..doc.length(list))
            .filter_map(|i| match doc.get(list, i) {
                Ok(Some((Value::Object(ObjType::Map), o))) => {
                    let decision = self.obj(&o, "decision").ok().and_then(|d| {
                        Some(PartsDecision {
                            approved_qty: self.opt_i64(&d, "approved_qty")?,
                            by: self.opt_str(&d, "by")?.parse().ok()?,
                            at_ms: self.opt_i64(&d, "at").unwrap_or_default(),
                            note: self.opt_str(&d, "note").unwrap_or_default(),
                        })
                    });
                    let req = PartsRequest {
                        id: self.opt_str(&o, "id")?.parse::<LineId>().ok()?,
                        sku: self.opt_str(&o, "sku")?,
                        qty: self.opt_i64(&o, "qty")?,
                        note: self.opt_str(&o, "note").unwrap_or_default(),
                        requested_by: self.opt_str(&o, "by")?.parse().ok()?,
                        at_ms: self.opt_i64(&o, "at").unwrap_or_default(),
                        decision,
                    };
                    Some((o, req))
                }
                _ => None,
            })
            .collect()
    }

    pub(crate) fn opt_bool(&self, parent: impl AsRef<ObjId>, key: &str) -> Option<bool> {
        match self.doc_ref().get(parent.as_ref(), key).ok()?? {
            (Value::Scalar(s), _) => match s.as_ref() {
                ScalarValue::Boolean(b) => Some(*b),
                _ => None,
            },
            _ => None,
        }
    }
}
