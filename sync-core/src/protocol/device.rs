//! The device half: build a request from the store, apply the response in one transaction.
//!
//! A response is applied whole or not at all, so a sync cut at any byte (request lost, response
//! lost or truncated) leaves the store as it was, and the next sync resends what is needed: the
//! cursor and the applied-response token only move when a response is persisted.

use super::wire::{self, AckError, DocPush, Limits, SyncRequest, SyncResponse, from_wire, to_wire};
use crate::rules::authority::Refusal;
use crate::store::Store;
use crate::{DocId, Error, Result, WorkOrderDoc};

const META_APPLIED: &str = "sync.applied_token";
const META_EVICTED: &str = "sync.evicted";

/// Progress of a sync, for a progress bar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub docs_done: u64,
    pub docs_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// What one sync did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncReport {
    pub round_trips: u32,
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// Documents pushed and acknowledged.
    pub sent: Vec<DocId>,
    /// Documents received (new or changed).
    pub received: Vec<DocId>,
    /// Edits the server refused (reverted and flagged there).
    pub refusals: Vec<(DocId, Refusal)>,
    /// Conflicts the server resolved on documents this device pushed.
    pub conflicts: Vec<(DocId, String)>,
    /// Documents the server would not take.
    pub rejected: Vec<(DocId, AckError)>,
    pub evicted: Vec<DocId>,
    /// Documents still waiting for upload when the sync stopped.
    pub pending: usize,
}

/// Build the next request: every pending document's changes since the server's acknowledged
/// heads, up to about `limits.page_bytes` of changes (the rest goes in the next round).
pub fn build_request(store: &Store, limits: &Limits) -> Result<SyncRequest> {
    store.read(|tx| {
        let mut req = SyncRequest {
            cursor: tx.cursor()?,
            applied: read_u64(tx.meta(META_APPLIED)?),
            pushes: Vec::new(),
            evicted: read_ids(tx.meta(META_EVICTED)?),
            reference_version: tx.reference_version()?,
        };
        let mut bytes = 0usize;
        for id in tx.pending()? {
            if req.pushes.len() >= limits.max_docs
                || (bytes > limits.page_bytes && !req.pushes.is_empty())
            {
                break;
            }
            let mut doc = tx.load(&id)?;
            let base = tx.server_heads(&id)?;
            let changes = if base.is_empty() {
                doc.save()
            } else {
                doc.save_after(&base)
            };
            bytes += changes.len();
            req.pushes.push(DocPush {
                id,
                base: to_wire(&base),
                heads: to_wire(&doc.heads()),
                changes,
            });
        }
        Ok(req)
    })
}

/// Apply a response to the request `req`, in one transaction. On any error nothing changes.
pub fn apply_response(
    store: &Store,
    req: &SyncRequest,
    bytes: &[u8],
    limits: &Limits,
    report: &mut SyncReport,
) -> Result<SyncResponse> {
    let resp = wire::decode_response(bytes, limits)?;
    let actor = store.actor().clone();
    store.write(|tx| {
        // Events received from elsewhere move this device's clock past them.
        let mut seen = crate::Hlc::ZERO;
        let mut observe = |doc: &WorkOrderDoc| -> Result<()> {
            if let Some(e) = doc.events()?.last() {
                seen = seen.max(e.hlc);
            }
            Ok(())
        };
        for ack in &resp.acks {
            if !req.pushes.iter().any(|p| p.id == ack.id) {
                return Err(Error::Protocol(format!(
                    "ack for a document not pushed: {}",
                    ack.id
                )));
            }
            match ack.error {
                None => {
                    // Only an ack carrying changes needs the document; otherwise the recorded
                    // heads say whether the server now has everything.
                    let heads = if ack.changes.is_empty() {
                        tx.heads(&ack.id)?.ok_or_else(|| {
                            Error::NotFound(format!("acknowledged document {}", ack.id))
                        })?
                    } else {
                        let mut doc = tx.load(&ack.id)?;
                        doc.apply_changes(&ack.changes)?;
                        tx.persist(&mut doc, false)?;
                        observe(&doc)?;
                        doc.heads()
                    };
                    let server = from_wire(&ack.heads);
                    tx.set_server_heads(&ack.id, &server)?;
                    if same_heads(&heads, &server) {
                        tx.set_pending(&ack.id, false)?;
                    }
                    report.sent.push(ack.id);
                    report
                        .refusals
                        .extend(ack.refusals.iter().map(|r| (ack.id, r.clone())));
                    report
                        .conflicts
                        .extend(ack.conflicts.iter().map(|c| (ack.id, c.clone())));
                }
                Some(AckError::MissingBase) => {
                    // The server lacks what we thought it had: send everything next time.
                    tx.set_server_heads(&ack.id, &[])?;
                    report.rejected.push((ack.id, AckError::MissingBase));
                }
                Some(AckError::NotAllowed) => {
                    // The server will never take it: stop retrying, but keep the data.
                    tx.set_pending(&ack.id, false)?;
                    report.rejected.push((ack.id, AckError::NotAllowed));
                }
                Some(AckError::Malformed) => report.rejected.push((ack.id, AckError::Malformed)),
            }
        }
        for pull in &resp.pulls {
            let mut doc = if tx.contains(&pull.id)? {
                let mut d = tx.load(&pull.id)?;
                d.apply_changes(&pull.changes)?;
                d
            } else {
                WorkOrderDoc::from_bytes(&pull.changes, &actor)?
            };
            if doc.id()? != pull.id {
                return Err(Error::Protocol(format!(
                    "pull for {} holds another document",
                    pull.id
                )));
            }
            tx.persist(&mut doc, false)?;
            observe(&doc)?;
            tx.set_server_heads(&pull.id, &from_wire(&pull.heads))?;
            report.received.push(pull.id);
        }
        if seen > crate::Hlc::ZERO {
            tx.set_hlc(seen)?;
        }
        let mut evicted = read_ids(tx.meta(META_EVICTED)?);
        evicted.retain(|id| !req.evicted.contains(id));
        let pending = tx.pending()?;
        for id in &resp.evict {
            // A document with unacknowledged changes stays until the server has them.
            if pending.contains(id) {
                continue;
            }
            if tx.contains(id)? {
                tx.evict(id)?;
                report.evicted.push(*id);
            }
            // Told even when we never had it (a lost response): the server forgets it then.
            if !evicted.contains(id) {
                evicted.push(*id);
            }
        }
        if let Some(reference) = &resp.reference {
            tx.apply_reference(reference)?;
        }
        tx.set_meta(META_EVICTED, &write_ids(&evicted))?;
        tx.set_cursor(resp.cursor)?;
        tx.set_meta(META_APPLIED, &resp.token.to_be_bytes())?;
        Ok(())
    })?;
    Ok(resp)
}

/// Sync until nothing is pending and the server has nothing more, or `max_rounds` is reached.
/// `transport` sends a request and returns the response bytes (HTTP in the phone library, a
/// function call in tests). A failed round leaves the store as it was; the error is returned
/// and the next call resumes.
pub fn sync(
    store: &Store,
    limits: &Limits,
    max_rounds: u32,
    transport: &mut dyn FnMut(&[u8]) -> Result<Vec<u8>>,
    progress: &mut dyn FnMut(Progress),
) -> Result<SyncReport> {
    let mut report = SyncReport::default();
    let mut prog = Progress::default();
    for _ in 0..max_rounds {
        let req = build_request(store, limits)?;
        let bytes = wire::encode_request(&req)?;
        report.bytes_up += bytes.len() as u64;
        let resp_bytes = transport(&bytes)?;
        report.bytes_down += resp_bytes.len() as u64;
        report.round_trips += 1;
        let resp = apply_response(store, &req, &resp_bytes, limits, &mut report)?;
        let page_bytes: u64 = resp.pulls.iter().map(|p| p.changes.len() as u64).sum();
        prog.docs_done += resp.pulls.len() as u64;
        prog.bytes_done += page_bytes;
        prog.docs_total = prog.docs_done + resp.remaining_docs;
        prog.bytes_total = prog.bytes_done + resp.remaining_bytes;
        progress(prog);
        let pending = store.read(|tx| tx.pending())?;
        report.pending = pending.len();
        let retry_missing = resp
            .acks
            .iter()
            .any(|a| a.error == Some(AckError::MissingBase));
        let unsent = pending.iter().any(|id| !is_stuck(&report, id));
        if !resp.more && !retry_missing && !unsent {
            break;
        }
    }
    Ok(report)
}

fn is_stuck(report: &SyncReport, id: &DocId) -> bool {
    report
        .rejected
        .iter()
        .any(|(r, e)| r == id && *e == AckError::Malformed)
}

fn same_heads(a: &[automerge::ChangeHash], b: &[automerge::ChangeHash]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}

fn read_u64(v: Option<Vec<u8>>) -> u64 {
    v.and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

fn read_ids(v: Option<Vec<u8>>) -> Vec<DocId> {
    v.map(|b| {
        b.chunks_exact(16)
            .filter_map(|c| uuid::Uuid::from_slice(c).ok().map(DocId))
            .collect()
    })
    .unwrap_or_default()
}

fn write_ids(ids: &[DocId]) -> Vec<u8> {
    ids.iter().flat_map(|i| i.0.as_bytes().to_vec()).collect()
}
