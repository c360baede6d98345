//! [`WorkOrderDoc`]: the Automerge document of one work order and its typed API.

use super::model::*;
use super::paths as p;
use crate::{ActorId, DocId, Error, OrgId, Result, UserId};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

/// One work order. Wraps an [`AutoCommit`]; every method keeps the document's shape valid.
#[derive(Debug, Clone)]
pub struct WorkOrderDoc {
    doc: AutoCommit,
}

impl WorkOrderDoc {
    /// Create a new order. `actor` is this install's actor id.
    pub fn create(actor: &ActorId, new: &NewWorkOrder, ctx: &EditContext) -> Result<Self> {
        let mut doc = AutoCommit::new().with_actor(actor.0.clone());
        doc.put(ROOT, p::SCHEMA, p::SCHEMA_VERSION)?;
        doc.put(ROOT, p::ID, new.id.to_string())?;
        doc.put(ROOT, p::ORG, new.org.to_string())?;
        doc.put(ROOT, p::NUMBER, new.number.as_str())?;
        doc.put(ROOT, p::STATUS, Status::New.as_str())?;

        let header = doc.put_object(ROOT, p::HEADER, ObjType::Map)?;
        let customer = doc.put_object(&header, p::CUSTOMER, ObjType::Map)?;
        doc.put(&customer, "id", new.customer.id.as_str())?;
        doc.put(&customer, "name", new.customer.name.as_str())?;
        let site = doc.put_object(&header, p::SITE, ObjType::Map)?;
        doc.put(&site, "address", new.site.address.as_str())?;
        doc.put(&site, "lat", new.site.lat)?;
        doc.put(&site, "lon", new.site.lon)?;
        let asset = doc.put_object(&header, p::ASSET, ObjType::Map)?;
        doc.put(&asset, "id", new.asset.id.as_str())?;
        doc.put(&asset, "model", new.asset.model.as_str())?;
        doc.put(&asset, "serial", new.asset.serial.as_str())?;
        let problem = doc.put_object(&header, p::PROBLEM, ObjType::Text)?;
        doc.splice_text(&problem, 0, 0, &new.problem)?;
        doc.put(&header, p::PRIORITY, new.priority.as_str())?;
        match new.sla_due_ms {
            Some(ms) => doc.put(&header, p::SLA_DUE, ms)?,
            None => doc.put(&header, p::SLA_DUE, ScalarValue::Null)?,
        }
        doc.put(&header, p::CREATED_AT, ctx.device_time_ms)?;

        let dispatch = doc.put_object(ROOT, p::DISPATCH, ObjType::Map)?;
        doc.put(&dispatch, p::ASSIGNEE, ScalarValue::Null)?;
        doc.put(&dispatch, p::WINDOW_START, ScalarValue::Null)?;
        doc.put(&dispatch, p::WINDOW_END, ScalarValue::Null)?;

        doc.put_object(ROOT, p::VISITS, ObjType::Map)?;
        doc.put_object(ROOT, p::PARTS_REQUESTS, ObjType::List)?;
        doc.put_object(ROOT, p::EVENTS, ObjType::List)?;
        doc.put_object(ROOT, p::FLAGS, ObjType::Map)?;
        Ok(Self { doc })
    }

    /// Load a saved document (full save, or a save followed by change chunks), acting as `actor`.
    pub fn load(bytes: &[u8], actor: &ActorId) -> Result<Self> {
        let doc = AutoCommit::load(bytes)?.with_actor(actor.0.clone());
        let this = Self { doc };
        this.check_shape()?;
        Ok(this)
    }

    /// Build a document from received changes (a document new to this replica). Fails if the
    /// changes are incomplete or do not form a work order.
    pub(crate) fn from_changes(changes: Vec<automerge::Change>, actor: &ActorId) -> Result<Self> {
        let mut this = Self {
            doc: AutoCommit::new().with_actor(actor.0.clone()),
        };
        this.apply_parsed(changes)?;
        this.check_shape()?;
        Ok(this)
    }

    /// Build a document from received bytes (a save or change chunks), strictly parsed.
    pub fn from_bytes(bytes: &[u8], actor: &ActorId) -> Result<Self> {
        Self::from_changes(super::chunks::parse_changes(bytes)?, actor)
    }

    /// Apply changes received from elsewhere (a save, or concatenated change chunks). Applying the
    /// same bytes twice is harmless. Fails, leaving the document unchanged, if the bytes are
    /// corrupt or depend on changes this document does not have.
    pub fn apply_changes(&mut self, bytes: &[u8]) -> Result<()> {
        let changes = super::chunks::parse_changes(bytes)?;
        self.apply_parsed(changes)
    }

    /// Apply already parsed changes; refuses the whole batch if any dependency is missing.
    pub(crate) fn apply_parsed(&mut self, changes: Vec<automerge::Change>) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let doc = &mut self.doc;
        // Change metadata comes from the change graph; `get_change_by_hash` would re-encode the
        // whole change.
        let missing =
            super::chunks::missing_deps(&changes, |h| doc.get_change_meta_by_hash(h).is_some());
        if !missing.is_empty() {
            return Err(Error::InvalidDocument(format!(
                "changes depend on {} change(s) this replica lacks",
                missing.len()
            )));
        }
        self.doc.apply_changes(changes)?;
        Ok(())
    }

    /// The full compacted document.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// Changes made since the last `save`/`save_incremental`: what the store appends per edit.
    pub fn save_incremental(&mut self) -> Vec<u8> {
        self.doc.save_incremental()
    }

    /// Changes that are not ancestors of `heads`: what a peer that has `heads` is missing.
    pub fn save_after(&mut self, heads: &[ChangeHash]) -> Vec<u8> {
        self.doc.save_after(heads)
    }

    /// Current heads.
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// Whether this document already contains every change in `heads`.
    pub fn has_all(&mut self, heads: &[ChangeHash]) -> bool {
        heads
            .iter()
            .all(|h| self.doc.get_change_meta_by_hash(h).is_some())
    }

    /// Reject documents that are not work orders (missing id or header). Fields this build does
    /// not know are fine.
    fn check_shape(&self) -> Result<()> {
        self.id()?;
        self.obj(ROOT, p::HEADER)?;
        Ok(())
    }

    // ----- reading -----

    /// The order's id.
    pub fn id(&self) -> Result<DocId> {
        self.str(ROOT, p::ID)?
            .parse()
            .map_err(|_| Error::InvalidDocument("bad id".into()))
    }

    /// The owning organisation.
    pub fn org(&self) -> Result<OrgId> {
        self.str(ROOT, p::ORG)?
            .parse()
            .map_err(|_| Error::InvalidDocument("bad org".into()))
    }

    /// Document schema version (1 if absent).
    pub fn schema_version(&self) -> u64 {
        match self.doc.get(ROOT, p::SCHEMA) {
            Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
                ScalarValue::Uint(v) => *v,
                ScalarValue::Int(v) => (*v).max(0) as u64,
                _ => 1,
            },
            _ => 1,
        }
    }

    /// Current status (the deterministic winner; see `rules::conflicts` for concurrent values).
    pub fn status(&self) -> Status {
        self.opt_str(ROOT, p::STATUS)
            .map(|s| Status::parse(&s))
            .unwrap_or(Status::New)
    }

    /// The header.
    pub fn header(&self) -> Result<Header> {
        let h = self.obj(ROOT, p::HEADER)?;
        let customer = self.obj(&h, p::CUSTOMER)?;
        let site = self.obj(&h, p::SITE)?;
        let asset = self.obj(&h, p::ASSET)?;
        Ok(Header {
            number: self.opt_str(ROOT, p::NUMBER).unwrap_or_default(),
            customer: Customer {
                id: self.opt_str(&customer, "id").unwrap_or_default(),
                name: self.opt_str(&customer, "name").unwrap_or_default(),
            },
            site: Site {
                address: self.opt_str(&site, "address").unwrap_or_default(),
                lat: self.opt_f64(&site, "lat").unwrap_or_default(),
                lon: self.opt_f64(&site, "lon").unwrap_or_default(),
            },
            asset: Asset {
                id: self.opt_str(&asset, "id").unwrap_or_default(),
                model: self.opt_str(&asset, "model").unwrap_or_default(),
                serial: self.opt_str(&asset, "serial").unwrap_or_default(),
            },
            problem: self.text(&h, p::PROBLEM),
            priority: self
                .opt_str(&h, p::PRIORITY)
                .map(|s| Priority::parse(&s))
                .unwrap_or(Priority::Normal),
            sla_due_ms: self.opt_i64(&h, p::SLA_DUE),
            created_at_ms: self.opt_i64(&h, p::CREATED_AT).unwrap_or_default(),
        })
    }

    /// Assignment and schedule.
    pub fn dispatch(&self) -> Result<Dispatch> {
        let d = self.obj(ROOT, p::DISPATCH)?;
        Ok(Dispatch {
            assignee: self
                .opt_str(&d, p::ASSIGNEE)
                .and_then(|s| s.parse::<UserId>().ok()),
            window_start_ms: self.opt_i64(&d, p::WINDOW_START),
            window_end_ms: self.opt_i64(&d, p::WINDOW_END),
        })
    }

    /// What list screens and query tables need.
    pub fn summary(&self) -> Result<OrderSummary> {
        self.summary_with(self.header()?)
    }

    /// [`Self::summary`] from the header already read (reading it is most of the work).
    pub fn summary_with(&self, header: Header) -> Result<OrderSummary> {
        let dispatch = self.dispatch()?;
        let open_flags = self.count_open_flags();
        Ok(OrderSummary {
            id: self.id()?,
            org: self.org()?,
            number: header.number,
            status: self.status(),
            priority: header.priority,
            customer_name: header.customer.name,
            site_address: header.site.address,
            lat: header.site.lat,
            lon: header.site.lon,
            asset_serial: header.asset.serial,
            problem: header.problem,
            assignee: dispatch.assignee,
            window_start_ms: dispatch.window_start_ms,
            window_end_ms: dispatch.window_end_ms,
            sla_due_ms: header.sla_due_ms,
            open_flags,
        })
    }

    fn count_open_flags(&self) -> u32 {
        let Ok(flags) = self.obj(ROOT, p::FLAGS) else {
            return 0;
        };
        self.doc
            .map_range(&flags, ..)
            .filter(|item| match &item.value {
                automerge::ValueRef::Object(_) => {
                    let id = item.id();
                    self.opt_str(&id, "resolved_by").is_none()
                }
                _ => false,
            })
            .count() as u32
    }

    // ----- changing -----

    /// Set the status. The status machine (`rules::status`) decides whether `ctx.role` may make
    /// this transition; a refused transition changes nothing.
    pub fn set_status(&mut self, ctx: &EditContext, to: Status) -> Result<()> {
        let from = self.status();
        crate::rules::status::check_transition(&from, &to, ctx.role)?;
        self.doc.put(ROOT, p::STATUS, to.as_str())?;
        self.record_event(ctx, "status", &format!("{from} -> {to}"))?;
        Ok(())
    }

    /// Assign the order to an engineer, or unassign it with `None`.
    pub fn assign(&mut self, ctx: &EditContext, engineer: Option<UserId>) -> Result<()> {
        let d = self.obj(ROOT, p::DISPATCH)?;
        match engineer {
            Some(u) => self.doc.put(&d, p::ASSIGNEE, u.to_string())?,
            None => self.doc.put(&d, p::ASSIGNEE, ScalarValue::Null)?,
        }
        let detail = engineer
            .map(|u| u.to_string())
            .unwrap_or_else(|| "none".into());
        self.record_event(ctx, "assign", &detail)?;
        Ok(())
    }

    /// Set the schedule window (UTC milliseconds).
    pub fn schedule(&mut self, ctx: &EditContext, start_ms: i64, end_ms: i64) -> Result<()> {
        if end_ms < start_ms {
            return Err(Error::InvalidInput(
                "schedule window ends before it starts".into(),
            ));
        }
        let d = self.obj(ROOT, p::DISPATCH)?;
        self.doc.put(&d, p::WINDOW_START, start_ms)?;
        self.doc.put(&d, p::WINDOW_END, end_ms)?;
        self.record_event(ctx, "schedule", &format!("{start_ms}..{end_ms}"))?;
        Ok(())
    }

    /// Change the priority.
    pub fn set_priority(&mut self, ctx: &EditContext, priority: Priority) -> Result<()> {
        let h = self.obj(ROOT, p::HEADER)?;
        self.doc.put(&h, p::PRIORITY, priority.as_str())?;
        self.record_event(ctx, "priority", priority.as_str())?;
        Ok(())
    }

    /// Change the customer (office roles). Records one event per changed field.
    pub fn set_customer(&mut self, ctx: &EditContext, customer: &Customer) -> Result<()> {
        let fields = [
            ("id", customer.id.as_str()),
            ("name", customer.name.as_str()),
        ];
        self.put_header_strs(ctx, p::CUSTOMER, &fields)
    }

    /// Change the asset (office roles).
    pub fn set_asset(&mut self, ctx: &EditContext, asset: &Asset) -> Result<()> {
        let fields = [
            ("id", asset.id.as_str()),
            ("model", asset.model.as_str()),
            ("serial", asset.serial.as_str()),
        ];
        self.put_header_strs(ctx, p::ASSET, &fields)
    }

    /// Change the site address and coordinates (office roles).
    pub fn set_site(&mut self, ctx: &EditContext, site: &Site) -> Result<()> {
        if !(-90.0..=90.0).contains(&site.lat) || !(-180.0..=180.0).contains(&site.lon) {
            return Err(Error::InvalidInput("site coordinates out of range".into()));
        }
        self.put_header_strs(ctx, p::SITE, &[("address", site.address.as_str())])?;
        let h = self.obj(ROOT, p::HEADER)?;
        let o = self.obj(&h, p::SITE)?;
        for (k, v) in [("lat", site.lat), ("lon", site.lon)] {
            if self.opt_f64(&o, k) != Some(v) {
                self.doc.put(&o, k, v)?;
                self.record_event(ctx, "header", &format!("site.{k}={v}"))?;
            }
        }
        Ok(())
    }

    fn put_header_strs(
        &mut self,
        ctx: &EditContext,
        part: &str,
        fields: &[(&str, &str)],
    ) -> Result<()> {
        let h = self.obj(ROOT, p::HEADER)?;
        let o = self.obj(&h, part)?;
        for (k, v) in fields {
            if self.opt_str(&o, k).as_deref() != Some(*v) {
                self.doc.put(&o, *k, *v)?;
                self.record_event(ctx, "header", &format!("{part}.{k}={v}"))?;
            }
        }
        Ok(())
    }

    /// Replace the problem description (merged as text, so concurrent edits both survive).
    pub fn set_problem(&mut self, ctx: &EditContext, text: &str) -> Result<()> {
        let h = self.obj(ROOT, p::HEADER)?;
        let t = self.obj(&h, p::PROBLEM)?;
        self.doc.update_text(&t, text)?;
        self.record_event(ctx, "header", "problem")
    }

    /// Set or clear the SLA due time.
    pub fn set_sla_due(&mut self, ctx: &EditContext, due_ms: Option<i64>) -> Result<()> {
        let h = self.obj(ROOT, p::HEADER)?;
        match due_ms {
            Some(ms) => self.doc.put(&h, p::SLA_DUE, ms)?,
            None => self.doc.put(&h, p::SLA_DUE, ScalarValue::Null)?,
        }
        let shown = due_ms
            .map(|v| v.to_string())
            .unwrap_or_else(|| "null".into());
        self.record_event(ctx, "header", &format!("sla_due={shown}"))
    }

    /// Raise a flag for a dispatcher (conflict resolved, change refused, work after
    /// re-assignment). Returns the flag id.
    pub fn raise_flag(
        &mut self,
        ctx: &EditContext,
        kind: &str,
        field: &str,
        detail: &str,
    ) -> Result<String> {
        let flags = self.obj(ROOT, p::FLAGS)?;
        let id = crate::LineId::new().to_string();
        let f = self.doc.put_object(&flags, id.as_str(), ObjType::Map)?;
        self.doc.put(&f, "kind", kind)?;
        self.doc.put(&f, "field", field)?;
        self.doc.put(&f, "detail", detail)?;
        self.doc.put(&f, "hlc", ctx.hlc.encode())?;
        Ok(id)
    }

    /// Mark a flag as dealt with (office roles).
    pub fn resolve_flag(&mut self, ctx: &EditContext, flag: &str) -> Result<()> {
        let flags = self.obj(ROOT, p::FLAGS)?;
        let f = self
            .obj(&flags, flag)
            .map_err(|_| Error::NotFound(format!("flag {flag}")))?;
        self.doc.put(&f, "resolved_by", ctx.user.to_string())?;
        self.doc.put(&f, "resolved_at", ctx.device_time_ms)?;
        self.record_event(ctx, "flag_resolved", flag)
    }

    /// Append an entry to the event log. Events are ordered by their HLC, never by device time.
    pub fn record_event(&mut self, ctx: &EditContext, kind: &str, detail: &str) -> Result<()> {
        let events = self.obj(ROOT, p::EVENTS)?;
        let len = self.doc.length(&events);
        let e = self.doc.insert_object(&events, len, ObjType::Map)?;
        self.doc.put(&e, "id", crate::LineId::new().to_string())?;
        self.doc.put(&e, "hlc", ctx.hlc.encode())?;
        self.doc.put(&e, "device_time", ctx.device_time_ms)?;
        self.doc.put(&e, "user", ctx.user.to_string())?;
        self.doc.put(&e, "role", ctx.role.as_str())?;
        self.doc.put(&e, "kind", kind)?;
        self.doc.put(&e, "detail", detail)?;
        Ok(())
    }

    // ----- low-level helpers shared by the typed API -----

    /// The Automerge document, for the typed API's other modules.
    pub(crate) fn am(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }

    pub(crate) fn doc_ref(&self) -> &AutoCommit {
        &self.doc
    }

    pub(crate) fn obj(&self, parent: impl AsRef<ObjId>, key: &str) -> Result<ObjId> {
        match self.doc.get(parent.as_ref(), key)? {
            Some((Value::Object(_), id)) => Ok(id),
            _ => Err(Error::InvalidDocument(format!("missing object {key:?}"))),
        }
    }

    pub(crate) fn str(&self, parent: impl AsRef<ObjId>, key: &str) -> Result<String> {
        self.opt_str(parent, key)
            .ok_or_else(|| Error::InvalidDocument(format!("missing text field {key:?}")))
    }

    pub(crate) fn opt_str(&self, parent: impl AsRef<ObjId>, key: &str) -> Option<String> {
        match self.doc.get(parent.as_ref(), key).ok()?? {
            (Value::Scalar(s), _) => match s.as_ref() {
                ScalarValue::Str(s) => Some(s.to_string()),
                _ => None,
            },
            (Value::Object(ObjType::Text), id) => self.doc.text(&id).ok(),
            _ => None,
        }
    }

    pub(crate) fn opt_i64(&self, parent: impl AsRef<ObjId>, key: &str) -> Option<i64> {
        match self.doc.get(parent.as_ref(), key).ok()?? {
            (Value::Scalar(s), _) => match s.as_ref() {
                ScalarValue::Int(v) => Some(*v),
                ScalarValue::Uint(v) => i64::try_from(*v).ok(),
                ScalarValue::Timestamp(v) => Some(*v),
                ScalarValue::Counter(c) => Some(i64::from(c)),
                _ => None,
            },
            _ => None,
        }
    }

    pub(crate) fn opt_f64(&self, parent: impl AsRef<ObjId>, key: &str) -> Option<f64> {
        match self.doc.get(parent.as_ref(), key).ok()?? {
            (Value::Scalar(s), _) => match s.as_ref() {
                ScalarValue::F64(v) => Some(*v),
                ScalarValue::Int(v) => Some(*v as f64),
                ScalarValue::Uint(v) => Some(*v as f64),
                _ => None,
            },
            _ => None,
        }
    }

    pub(crate) fn text(&self, parent: impl AsRef<ObjId>, key: &str) -> String {
        self.opt_str(parent, key).unwrap_or_default()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{Hlc, Role};

    pub(crate) fn ctx(role: Role) -> EditContext {
        EditContext {
            user: UserId::new(),
            role,
            device_time_ms: 1_700_000_000_000,
            hlc: Hlc::ZERO.tick(1_700_000_000_000, 1),
        }
    }

    pub(crate) fn sample(number: &str) -> NewWorkOrder {
        NewWorkOrder {
            id: DocId::new(),
            org: OrgId::new(),
            number: number.into(),
            customer: Customer {
                id: "C-1".into(),
                name: "Acme Cold Storage".into(),
            },
            site: Site {
                address: "1 Dock Rd".into(),
                lat: 31.23,
                lon: 121.47,
            },
            asset: Asset {
                id: "A-1".into(),
                model: "Chiller X200".into(),
                serial: "SN-0001".into(),
            },
            problem: "Compressor trips after 10 minutes".into(),
            priority: Priority::High,
            sla_due_ms: Some(1_700_100_000_000),
        }
    }

    #[test]
    fn created_order_reads_back_and_survives_save_load() {
        let actor = ActorId::random();
        let new = sample("WO-1");
        let mut doc = WorkOrderDoc::create(&actor, &new, &ctx(Role::Dispatcher)).unwrap();
        let bytes = doc.save();
        let loaded = WorkOrderDoc::load(&bytes, &ActorId::random()).unwrap();
        let s = loaded.summary().unwrap();
        assert_eq!(s.id, new.id);
        assert_eq!(s.status, Status::New);
        assert_eq!(s.customer_name, "Acme Cold Storage");
        assert_eq!(s.priority, Priority::High);
        assert_eq!(loaded.header().unwrap().problem, new.problem);
        assert_eq!(loaded.schema_version(), p::SCHEMA_VERSION);
    }

    #[test]
    fn corrupt_bytes_are_an_error_not_a_panic() {
        assert!(WorkOrderDoc::load(b"not automerge", &ActorId::random()).is_err());
        let mut doc =
            WorkOrderDoc::create(&ActorId::random(), &sample("WO-2"), &ctx(Role::Dispatcher))
                .unwrap();
        let before = doc.heads();
        assert!(doc.apply_changes(b"\x85\x6f\x4a\x83garbage").is_err());
        assert_eq!(doc.heads(), before);
    }
}

#[cfg(test)]
mod evolution_tests {
    //! Documents written by other app versions: an older build preserves what it does not know,
    //! a newer build reads what older ones wrote.
    use super::tests::{ctx, sample};
    use super::*;
    use crate::workorder::NewConsumption;
    use crate::{Role, rules::conflicts};

    #[test]
    fn an_older_app_keeps_fields_and_statuses_it_does_not_know() {
        let mut doc =
            WorkOrderDoc::create(&ActorId::random(), &sample("WO-9"), &ctx(Role::Dispatcher))
                .unwrap();
        // A newer app (schema 2) adds a warranty block, a header field and a status.
        {
            let d = doc.am();
            d.put(ROOT, p::SCHEMA, 2u64).unwrap();
            let w = d.put_object(ROOT, "warranty", ObjType::Map).unwrap();
            d.put(&w, "until", 1_900_000_000_000i64).unwrap();
            let h = doc.obj(ROOT, p::HEADER).unwrap();
            doc.am().put(&h, "contract_ref", "K-77").unwrap();
            doc.am().put(ROOT, p::STATUS, "awaiting_customer").unwrap();
        }
        let bytes = doc.save();
        // This build opens it, reads it, and edits it.
        let mut old = WorkOrderDoc::load(&bytes, &ActorId::random()).unwrap();
        assert_eq!(old.schema_version(), 2);
        assert_eq!(old.status(), Status::Other("awaiting_customer".into()));
        let c = ctx(Role::Dispatcher);
        old.set_priority(&c, Priority::Urgent).unwrap();
        old.assign(&c, Some(UserId::new())).unwrap();
        let e = ctx(Role::Engineer);
        let v = old.start_visit(&e).unwrap();
        old.consume_part(
            &e,
            &v,
            &NewConsumption {
                sku: "X-1".into(),
                qty: 1,
                serial: None,
                replaced_serial: None,
            },
        )
        .unwrap();
        // Everything the newer app wrote is still there.
        let d = old.doc_ref();
        let (_, w) = d.get(ROOT, "warranty").unwrap().unwrap();
        assert_eq!(old.opt_i64(&w, "until"), Some(1_900_000_000_000));
        let h = old.obj(ROOT, p::HEADER).unwrap();
        assert_eq!(old.opt_str(&h, "contract_ref").as_deref(), Some("K-77"));
        assert_eq!(old.status(), Status::Other("awaiting_customer".into()));
        assert_eq!(
            old.schema_version(),
            2,
            "an older app never downgrades the schema mark"
        );
        assert!(conflicts::detect(&old).is_empty());
    }

    #[test]
    fn a_newer_app_reads_documents_written_before_visits_requests_and_flags_existed() {
        // The shape of a first-generation document: header and dispatch only, no schema mark.
        let mut d = AutoCommit::new();
        let id = DocId::new();
        d.put(ROOT, p::ID, id.to_string()).unwrap();
        d.put(ROOT, p::ORG, OrgId::new().to_string()).unwrap();
        d.put(ROOT, p::NUMBER, "WO-1").unwrap();
        d.put(ROOT, p::STATUS, "assigned").unwrap();
        let h = d.put_object(ROOT, p::HEADER, ObjType::Map).unwrap();
        for part in [p::CUSTOMER, p::SITE, p::ASSET] {
            d.put_object(&h, part, ObjType::Map).unwrap();
        }
        d.put(&h, p::PRIORITY, "high").unwrap();
        d.put_object(ROOT, p::DISPATCH, ObjType::Map).unwrap();
        let doc = WorkOrderDoc::load(&d.save(), &ActorId::random()).unwrap();
        let order = doc.read().unwrap();
        assert_eq!(order.id, id);
        assert_eq!(order.schema_version, 1);
        assert_eq!(order.status, Status::Assigned);
        assert_eq!(order.header.priority, Priority::High);
        assert!(order.visits.is_empty() && order.flags.is_empty() && order.events.is_empty());
    }
}
