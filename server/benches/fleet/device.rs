//! A simulated phone for the load generator: sync state and documents in memory, no SQLite
//! store. Requests are built and responses applied exactly as
//! `sync_core::protocol::device::{build_request, apply_response}` do over the device store
//! (same fields, same rules for acks, pulls and evictions), so the server sees what a real phone
//! sends. Plus one keep-alive HTTP/1.1 connection type the generator pools.

use automerge::ChangeHash;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::time::Duration;
use sync_core::protocol::wire::{
    self, AckError, DocPush, Limits, SyncRequest, SyncResponse, from_wire, to_wire,
};
use sync_core::workorder::NewConsumption;
use sync_core::{ActorId, DocId, EditContext, Hlc, Role, Status, UserId, VisitId, WorkOrderDoc};

/// A request that takes longer than this counts as an error (a phone would give up).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// As `device::sync`'s `max_rounds` in the app.
const MAX_ROUNDS: u32 = 20;

/// One document on the phone.
struct Held {
    doc: WorkOrderDoc,
    /// Heads the server acknowledged (the device store's `server_heads`).
    server_heads: Vec<ChangeHash>,
    /// Local changes not yet acknowledged.
    pending: bool,
    visit: Option<VisitId>,
    edits: u32,
}

/// xorshift64*: reproducible.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() >> 33) as usize % n
    }

    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// An engineer's phone.
pub struct SimDevice {
    pub user: UserId,
    /// `Bearer lmd_...`
    pub auth: String,
    actor: ActorId,
    node: u32,
    hlc: Hlc,
    cursor: u64,
    applied: u64,
    /// The reference data (catalog, van stock) version held; the data itself is not kept.
    reference_version: u64,
    evicted: Vec<DocId>,
    docs: BTreeMap<DocId, Held>,
    rng: Rng,
}

/// What one sync (all its rounds) did.
#[derive(Clone, Copy, Debug, Default)]
pub struct SyncStats {
    pub rounds: u32,
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// Pushed documents acknowledged without error.
    pub merged: u64,
    /// Pushed documents refused (`MissingBase`, `Malformed`, `NotAllowed`) or edits refused.
    pub rejected: u64,
    pub received: u64,
}

impl SimDevice {
    pub fn new(user: UserId, token: &str, seed: u64) -> SimDevice {
        let actor = ActorId::random();
        let node = actor
            .to_bytes()
            .iter()
            .take(4)
            .fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
        SimDevice {
            user,
            auth: format!("Bearer {token}"),
            actor,
            node,
            hlc: Hlc::ZERO,
            cursor: 0,
            applied: 0,
            reference_version: 0,
            evicted: Vec::new(),
            docs: BTreeMap::new(),
            rng: Rng(seed | 1),
        }
    }

    pub fn documents(&self) -> usize {
        self.docs.len()
    }

    pub fn pending(&self) -> usize {
        self.docs.values().filter(|h| h.pending).count()
    }

    fn ctx(&mut self) -> EditContext {
        let now = lastmile_server::now_ms();
        self.hlc = self.hlc.tick(now, self.node);
        EditContext {
            user: self.user,
            role: Role::Engineer,
            device_time_ms: now,
            hlc: self.hlc,
        }
    }

    /// One field action on one of the phone's orders, as an engineer does between two syncs:
    /// the first on an order starts a visit and checks in, later ones add a parts line or
    /// rewrite the notes.
    pub fn edit_one(&mut self) -> sync_core::Result<()> {
        if self.docs.is_empty() {
            return Ok(());
        }
        let pick = self.rng.below(self.docs.len());
        let id = *self.docs.keys().nth(pick).expect("picked a held document");
        let ctx = self.ctx();
        let held = self.docs.get_mut(&id).expect("held");
        match held.visit {
            None => {
                let v = held.doc.start_visit(&ctx)?;
                held.doc.check_in(&ctx, &v, None, Some(18.0), false)?;
                held.visit = Some(v);
            }
            Some(v) if held.edits % 2 == 1 => {
                held.doc.consume_part(&ctx, &v, &part(held.edits))?;
            }
            Some(v) => {
                let text = format!(
                    "Visit notes, take {}: condenser coil cleaned, belt tension checked.",
                    held.edits
                );
                held.doc.set_notes(&ctx, &v, &text)?;
            }
        }
        held.edits += 1;
        held.pending = true;
        Ok(())
    }

    /// The end of a day on every order the phone holds: visit and check-in, a parts line,
    /// notes, completed. Five changes per order.
    pub fn finish_day(&mut self) -> sync_core::Result<()> {
        let ids: Vec<DocId> = self.docs.keys().copied().collect();
        for id in ids {
            let ctx = self.ctx();
            let held = self.docs.get_mut(&id).expect("held");
            let v = held.doc.start_visit(&ctx)?;
            held.doc.check_in(&ctx, &v, None, Some(12.0), false)?;
            held.doc.consume_part(&ctx, &v, &part(1))?;
            held.doc.set_notes(
                &ctx,
                &v,
                "Compressor relay replaced; ran 30 min without a trip. Customer informed.",
            )?;
            held.doc.set_status(&ctx, Status::Completed)?;
            held.visit = Some(v);
            held.pending = true;
        }
        Ok(())
    }

    /// `device::build_request`: every pending document's changes since the server's
    /// acknowledged heads, up to about `limits.page_bytes`.
    pub fn build_request(&mut self, limits: &Limits) -> SyncRequest {
        let mut req = SyncRequest {
            cursor: self.cursor,
            applied: self.applied,
            pushes: Vec::new(),
            evicted: self.evicted.clone(),
            reference_version: self.reference_version,
        };
        let mut bytes = 0usize;
        for (id, held) in self.docs.iter_mut().filter(|(_, h)| h.pending) {
            if req.pushes.len() >= limits.max_docs
                || (bytes > limits.page_bytes && !req.pushes.is_empty())
            {
                break;
            }
            let changes = if held.server_heads.is_empty() {
                held.doc.save()
            } else {
                held.doc.save_after(&held.server_heads)
            };
            bytes += changes.len();
            req.pushes.push(DocPush {
                id: *id,
                base: to_wire(&held.server_heads),
                heads: to_wire(&held.doc.heads()),
                changes,
            });
        }
        req
    }

    /// `device::apply_response`, in memory. On error the device is left as it was only for
    /// decode errors (enough for a load generator: any error is counted and reported).
    pub fn apply_response(
        &mut self,
        req: &SyncRequest,
        bytes: &[u8],
        limits: &Limits,
        stats: &mut SyncStats,
    ) -> sync_core::Result<SyncResponse> {
        let resp = wire::decode_response(bytes, limits)?;
        for ack in &resp.acks {
            if !req.pushes.iter().any(|p| p.id == ack.id) {
                return Err(sync_core::Error::Protocol(format!(
                    "ack for a document not pushed: {}",
                    ack.id
                )));
            }
            let Some(held) = self.docs.get_mut(&ack.id) else {
                continue;
            };
            match ack.error {
                None => {
                    if !ack.changes.is_empty() {
                        held.doc.apply_changes(&ack.changes)?;
                    }
                    let server = from_wire(&ack.heads);
                    if same_heads(&held.doc.heads(), &server) {
                        held.pending = false;
                    }
                    held.server_heads = server;
                    stats.merged += 1;
                    stats.rejected += ack.refusals.len() as u64;
                }
                Some(AckError::MissingBase) => {
                    held.server_heads.clear();
                    stats.rejected += 1;
                }
                Some(AckError::NotAllowed) => {
                    held.pending = false;
                    stats.rejected += 1;
                }
                Some(AckError::Malformed) => stats.rejected += 1,
            }
        }
        for pull in &resp.pulls {
            let held = match self.docs.get_mut(&pull.id) {
                Some(h) => {
                    h.doc.apply_changes(&pull.changes)?;
                    h
                }
                None => {
                    let doc = WorkOrderDoc::from_bytes(&pull.changes, &self.actor)?;
                    if doc.id()? != pull.id {
                        return Err(sync_core::Error::Protocol(format!(
                            "pull for {} holds another document",
                            pull.id
                        )));
                    }
                    self.docs.entry(pull.id).or_insert(Held {
                        doc,
                        server_heads: Vec::new(),
                        pending: false,
                        visit: None,
                        edits: 0,
                    })
                }
            };
            held.server_heads = from_wire(&pull.heads);
            stats.received += 1;
        }
        self.evicted.retain(|id| !req.evicted.contains(id));
        for id in &resp.evict {
            if self.docs.get(id).is_some_and(|h| h.pending) {
                continue;
            }
            self.docs.remove(id);
            if !self.evicted.contains(id) {
                self.evicted.push(*id);
            }
        }
        if let Some(reference) = &resp.reference {
            self.reference_version = reference.version;
        }
        self.cursor = resp.cursor;
        self.applied = resp.token;
        Ok(resp)
    }
}

/// The parts the phones consume (setup.rs puts them in the catalog and the vans).
pub const PART_SKUS: [&str; 3] = ["FILTER-20", "BELT-A42", "RELAY-24V"];

fn part(n: u32) -> NewConsumption {
    NewConsumption {
        sku: PART_SKUS[n as usize % PART_SKUS.len()].into(),
        qty: 1,
        serial: None,
        replaced_serial: None,
    }
}

fn same_heads(a: &[ChangeHash], b: &[ChangeHash]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}

/// One keep-alive HTTP/1.1 connection to the server, reconnected when the server closed it.
pub struct Conn {
    authority: String,
    sender: Option<SendRequest<Full<Bytes>>>,
    pub connects: u64,
}

impl Conn {
    /// `authority` is `host:port`.
    pub fn new(authority: &str) -> Conn {
        Conn {
            authority: authority.to_owned(),
            sender: None,
            connects: 0,
        }
    }

    /// Open the connection now (so a burst does not time the TCP handshakes).
    pub async fn connect(&mut self) -> Result<(), String> {
        let alive = match self.sender.as_mut() {
            Some(s) => s.ready().await.is_ok(),
            None => false,
        };
        if !alive {
            let stream = tokio::net::TcpStream::connect(&self.authority)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            // Requests are small: never wait for Nagle.
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            tokio::spawn(conn);
            self.sender = Some(sender);
            self.connects += 1;
        }
        Ok(())
    }

    /// One request; the status and the whole body.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Bytes), String> {
        self.connect().await?;
        let sender = self.sender.as_mut().expect("connected");
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, self.authority.as_str())
            .header(hyper::header::CONTENT_TYPE, content_type);
        if let Some(a) = auth {
            req = req.header(hyper::header::AUTHORIZATION, a);
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let exchange = async {
            let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok::<_, String>((status, body))
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(e)) => {
                self.sender = None;
                Err(e)
            }
            Err(_) => {
                self.sender = None;
                Err("timed out".into())
            }
        }
    }
}

/// POST one sync request; the response bytes, or why not.
pub async fn post_sync(conn: &mut Conn, auth: &str, body: Vec<u8>) -> Result<Bytes, String> {
    let (status, bytes) = conn
        .request(
            Method::POST,
            "/api/v1/sync",
            Some(auth),
            "application/octet-stream",
            body,
        )
        .await?;
    if status != 200 {
        return Err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        ));
    }
    Ok(bytes)
}

/// `device::sync`: rounds until nothing is pending and the server has nothing more.
pub async fn sync(
    conn: &mut Conn,
    dev: &mut SimDevice,
    limits: &Limits,
) -> Result<SyncStats, String> {
    let mut stats = SyncStats::default();
    for _ in 0..MAX_ROUNDS {
        let req = dev.build_request(limits);
        let body = wire::encode_request(&req).map_err(|e| e.to_string())?;
        stats.bytes_up += body.len() as u64;
        let bytes = post_sync(conn, &dev.auth, body).await?;
        stats.bytes_down += bytes.len() as u64;
        stats.rounds += 1;
        let resp = dev
            .apply_response(&req, &bytes, limits, &mut stats)
            .map_err(|e| format!("apply: {e}"))?;
        let missing = resp
            .acks
            .iter()
            .any(|a| a.error == Some(AckError::MissingBase));
        if !resp.more && !missing && dev.pending() == 0 {
            break;
        }
    }
    Ok(stats)
}
