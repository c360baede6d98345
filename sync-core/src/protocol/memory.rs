//! An in-memory server built from the server half's steps: the reference the real server is
//! tested against, and the peer of property tests, benchmarks and the demo.

use super::reference::{CatalogItem, ReferenceDelta, VanStockLine};
use super::server::{self, PullCandidate};
use super::wire::{self, DocAck, Limits, SyncResponse, from_wire};
use crate::rules::authority::Sender;
use crate::workorder::{EditContext, NewWorkOrder, Role, WorkOrderDoc};
use crate::{ActorId, DocId, Hlc, OrgId, Result, UserId};
use automerge::ChangeHash;
use std::collections::HashMap;

#[derive(Default)]
struct DeviceDoc {
    /// Heads the device certainly has.
    acked: Vec<ChangeHash>,
    /// Heads sent in response `token`, certain once the device says it applied that token.
    pending: Option<(Vec<ChangeHash>, u64)>,
}

#[derive(Default)]
struct Device {
    token: u64,
    docs: HashMap<DocId, DeviceDoc>,
}

/// A whole server in memory: documents with change sequences and per-device sync state.
pub struct MemoryServer {
    pub org: OrgId,
    actor: ActorId,
    user: UserId,
    docs: HashMap<DocId, (WorkOrderDoc, u64)>,
    seq: u64,
    devices: HashMap<String, Device>,
    clock: Hlc,
    now_ms: i64,
    pub limits: Limits,
    /// Reference data: catalog items and vans, each with the sequence of its last change.
    catalog: std::collections::BTreeMap<String, (CatalogItem, u64)>,
    vans: HashMap<UserId, (Vec<VanStockLine>, u64)>,
}

impl MemoryServer {
    pub fn new(org: OrgId) -> Self {
        MemoryServer {
            org,
            actor: ActorId::random(),
            user: UserId::new(),
            docs: HashMap::new(),
            seq: 0,
            devices: HashMap::new(),
            clock: Hlc::ZERO,
            now_ms: 1_800_000_000_000,
            limits: Limits::default(),
            catalog: Default::default(),
            vans: HashMap::new(),
        }
    }

    /// Add, change or withdraw (`deleted`) a catalog item.
    pub fn put_catalog_item(&mut self, item: CatalogItem) {
        self.seq += 1;
        self.catalog.insert(item.sku.clone(), (item, self.seq));
    }

    /// Set an engineer's van stock (what the ledger would say).
    pub fn set_van(&mut self, engineer: UserId, lines: Vec<VanStockLine>) {
        self.seq += 1;
        self.vans.insert(engineer, (lines, self.seq));
    }

    /// The reference delta for `engineer` since `since`: the contract the real server's
    /// inventory module implements too.
    fn reference_for(&self, engineer: UserId, since: u64) -> Option<ReferenceDelta> {
        let catalog: Vec<CatalogItem> = self
            .catalog
            .values()
            .filter(|(_, seq)| *seq > since)
            .map(|(i, _)| i.clone())
            .collect();
        let van = self
            .vans
            .get(&engineer)
            .filter(|(_, seq)| *seq > since)
            .map(|(l, _)| l.clone());
        (!catalog.is_empty() || van.is_some()).then_some(ReferenceDelta {
            version: self.seq,
            full: since == 0,
            catalog,
            van,
        })
    }

    fn ctx(&mut self, user: UserId, role: Role) -> EditContext {
        self.now_ms += 1;
        self.clock = self.clock.tick(self.now_ms, 0);
        EditContext {
            user,
            role,
            device_time_ms: self.now_ms,
            hlc: self.clock,
        }
    }

    /// Create an order as an office user.
    pub fn create(&mut self, new: &NewWorkOrder, by: UserId) -> Result<DocId> {
        let ctx = self.ctx(by, Role::Dispatcher);
        let doc = WorkOrderDoc::create(&self.actor, new, &ctx)?;
        self.seq += 1;
        self.docs.insert(new.id, (doc, self.seq));
        Ok(new.id)
    }

    /// Edit an order on the server (a dispatcher in the console).
    pub fn edit<R>(
        &mut self,
        id: &DocId,
        user: UserId,
        role: Role,
        f: impl FnOnce(&mut WorkOrderDoc, &EditContext) -> Result<R>,
    ) -> Result<R> {
        let ctx = self.ctx(user, role);
        let (doc, seq) = self
            .docs
            .get_mut(id)
            .ok_or_else(|| crate::Error::NotFound(id.to_string()))?;
        let mut work = doc.clone();
        let r = f(&mut work, &ctx)?;
        if work.heads() != doc.heads() {
            *doc = work;
            self.seq += 1;
            *seq = self.seq;
        }
        Ok(r)
    }

    pub fn doc(&self, id: &DocId) -> Option<&WorkOrderDoc> {
        self.docs.get(id).map(|(d, _)| d)
    }

    pub fn doc_ids(&self) -> Vec<DocId> {
        self.docs.keys().copied().collect()
    }

    /// The server's change sequence.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Answer one sync request from `device` (authenticated as `sender`). Engineers' scope is
    /// the orders assigned to them; office roles see every order of the organisation.
    pub fn handle(&mut self, device: &str, sender: Sender, request: &[u8]) -> Result<Vec<u8>> {
        let req = wire::decode_request(request, &self.limits)?;
        let ctx = self.ctx(self.user, Role::System);
        let org = self.org;
        let dev = self.devices.entry(device.to_owned()).or_default();
        // What the last response sent is certain only if the device applied exactly that
        // response; a lost response's pending heads are dropped (it gets them again).
        for d in dev.docs.values_mut() {
            if let Some((heads, token)) = d.pending.take()
                && token == req.applied
            {
                d.acked = heads;
            }
        }
        for id in &req.evicted {
            dev.docs.remove(id);
        }
        dev.token += 1;
        let token = dev.token;

        let in_scope = |doc: &WorkOrderDoc| match sender.role {
            Role::Engineer => server::in_engineer_scope(doc, sender.user),
            Role::Dispatcher | Role::Admin => true,
            _ => false,
        };

        let mut acks: Vec<DocAck> = Vec::new();
        let mut pushed = Vec::new();
        for push in &req.pushes {
            let stored = self.docs.get(&push.id).map(|(d, _)| d.clone());
            let known = self
                .devices
                .get(device)
                .is_some_and(|d| d.docs.contains_key(&push.id));
            let scope = stored.as_ref().is_some_and(in_scope);
            if !server::may_push(stored.as_ref(), sender, org, scope, known) {
                acks.push(DocAck {
                    id: push.id,
                    error: Some(wire::AckError::NotAllowed),
                    heads: Vec::new(),
                    changes: Vec::new(),
                    refusals: Vec::new(),
                    conflicts: Vec::new(),
                });
                continue;
            }
            let out = server::merge_push(stored, push, sender, &self.actor, &ctx);
            if let (Some(mut doc), true) = (out.doc, out.changed) {
                if doc.org().ok() == Some(org) {
                    self.seq += 1;
                    let heads = doc.heads();
                    self.docs.insert(push.id, (doc, self.seq));
                    let dd = self
                        .devices
                        .get_mut(device)
                        .expect("device state exists")
                        .docs
                        .entry(push.id)
                        .or_default();
                    dd.acked = from_wire(&push.heads);
                    dd.pending = Some((heads, token));
                }
            } else if out.ack.error.is_none() {
                let dd = self
                    .devices
                    .get_mut(device)
                    .expect("device state exists")
                    .docs
                    .entry(push.id)
                    .or_default();
                dd.acked = from_wire(&push.heads);
            }
            pushed.push(push.id);
            acks.push(out.ack);
        }

        // Pulls.
        let dev = self.devices.get(device).expect("device state exists");
        let candidates: Vec<PullCandidate> = self
            .docs
            .iter()
            .filter(|(_, (d, _))| in_scope(d))
            .map(|(id, (_, seq))| PullCandidate {
                id: *id,
                seq: *seq,
                size: 512,
                known_to_device: dev.docs.contains_key(id),
            })
            .collect();
        let evict: Vec<DocId> = dev
            .docs
            .keys()
            // Pushed documents included: the device applies acks first, then evicts what is no
            // longer pending.
            .filter(|id| !self.docs.get(id).is_some_and(|(d, _)| in_scope(d)))
            .copied()
            .collect();
        let plan = server::plan_pulls(
            candidates,
            req.cursor,
            self.seq,
            &pushed,
            self.limits.page_bytes,
            self.limits.max_docs,
        );
        let mut pulls = Vec::new();
        for id in &plan.send {
            let (doc, _) = self.docs.get_mut(id).expect("planned document exists");
            let dd = self
                .devices
                .get_mut(device)
                .expect("device state exists")
                .docs
                .entry(*id)
                .or_default();
            let pull = server::pull_for(doc, &dd.acked)?;
            dd.pending = Some((from_wire(&pull.heads), token));
            pulls.push(pull);
        }
        let resp = SyncResponse {
            cursor: plan.cursor,
            token,
            more: plan.more,
            acks,
            pulls,
            evict,
            remaining_docs: plan.remaining_docs,
            remaining_bytes: plan.remaining_bytes,
            reference: match sender.role {
                Role::Engineer => self.reference_for(sender.user, req.reference_version),
                _ => None,
            },
        };
        wire::encode_response(&resp)
    }
}
