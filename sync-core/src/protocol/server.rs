//! The server half, sans I/O: the steps a server runs for one sync request. The real server
//! (sqlx, async) and [`super::memory::MemoryServer`] (tests, benchmarks, the demo) compose the
//! same steps around their own storage, so both merge, check and resolve identically.
//!
//! Per request:
//! 1. [`super::decode_request`]; promote the device's pending acknowledgements up to
//!    `request.applied`; forget the documents it evicted.
//! 2. For each push: [`may_push`], then [`merge_push`] (strict parse, merge, field-level
//!    authority, conflict resolution) and store the document, its projection and a new change
//!    sequence in one transaction.
//! 3. [`plan_pulls`] over the documents in the device's scope; [`pull_for`] each one.
//! 4. Record what was sent as pending under a new response token; [`super::encode_response`].

use super::wire::{AckError, DocAck, DocPull, DocPush, from_wire, to_wire};
use crate::rules::authority::{self, Sender, Touched};
use crate::rules::conflicts;
use crate::workorder::{EditContext, Role, WorkOrderDoc};
use crate::{ActorId, DocId, Error, OrgId, Result};
use automerge::ChangeHash;

/// The result of merging one pushed document.
pub struct MergeOutcome {
    /// The merged document, to store (`None` if nothing could be merged: a refused push drops
    /// the document it was merging into, which may hold part of the push; the stored copy is
    /// unchanged).
    pub doc: Option<WorkOrderDoc>,
    /// Whether the stored document changed (then store it and bump its sequence).
    pub changed: bool,
    /// What the push touched (everything, for a new document): lets the caller skip work such
    /// as posting parts consumption when the push did not touch it.
    pub touched: Touched,
    pub ack: DocAck,
}

/// Whether `sender` may push changes to a document: it belongs to their organisation and is in
/// their scope now, or was (`known_to_device`: the server sent it to this device before, so
/// offline edits made before a re-assignment are still taken), or it is new and they are office
/// staff.
pub fn may_push(
    stored: Option<&WorkOrderDoc>,
    sender: Sender,
    org: OrgId,
    in_scope: bool,
    known_to_device: bool,
) -> bool {
    match stored {
        Some(doc) => doc.org().ok() == Some(org) && (in_scope || known_to_device),
        None => matches!(sender.role, Role::Dispatcher | Role::Admin),
    }
}

/// Merge one pushed document into the stored one (or create it), check the sender's authority,
/// resolve conflicts, and build the acknowledgement. Never fails for bad input: a malformed or
/// unmergeable push becomes an ack with an error and leaves the stored document untouched.
pub fn merge_push(
    stored: Option<WorkOrderDoc>,
    push: &DocPush,
    sender: Sender,
    server_actor: &ActorId,
    ctx: &EditContext,
) -> MergeOutcome {
    let refuse = |error: AckError| MergeOutcome {
        doc: None,
        changed: false,
        touched: Touched::nothing(),
        ack: DocAck {
            id: push.id,
            error: Some(error),
            heads: Vec::new(),
            changes: Vec::new(),
            refusals: Vec::new(),
            conflicts: Vec::new(),
        },
    };
    let Ok(changes) = crate::workorder::parse_changes(&push.changes) else {
        return refuse(AckError::Malformed);
    };
    let is_new = stored.is_none();
    let mut doc = match stored {
        Some(d) => d,
        None => match WorkOrderDoc::from_changes(changes.clone(), server_actor) {
            Ok(d) => d,
            Err(Error::InvalidDocument(_)) if !push.base.is_empty() => {
                return refuse(AckError::MissingBase);
            }
            Err(_) => return refuse(AckError::Malformed),
        },
    };
    if !is_new && doc.id().ok() != Some(push.id) {
        return refuse(AckError::NotAllowed);
    }
    if is_new && doc.id().ok() != Some(push.id) {
        return refuse(AckError::Malformed);
    }
    let before = if is_new { Vec::new() } else { doc.heads() };
    if !is_new {
        match doc.apply_parsed(changes) {
            Ok(()) => {}
            Err(Error::InvalidDocument(_)) => return refuse(AckError::MissingBase),
            Err(_) => return refuse(AckError::Malformed),
        }
    }
    let mut refusals = Vec::new();
    let mut touched = Touched::everything();
    let mut conflicts_found = Vec::new();
    let device_heads = from_wire(&push.heads);
    if !is_new {
        let base = from_wire(&push.base);
        match authority::enforce(&mut doc, &before, &base, &device_heads, sender, ctx) {
            Ok(e) => {
                refusals = e.refusals;
                touched = e.touched;
            }
            Err(_) => return refuse(AckError::Malformed),
        }
        if sender.role == Role::Engineer
            && let Err(e) = flag_work_after_reassignment(&mut doc, &before, sender, ctx)
        {
            tracing::warn!(error = %e, "could not flag work after re-assignment");
        }
    }
    match conflicts::resolve(&mut doc, ctx) {
        Ok(res) => conflicts_found = res.into_iter().map(|r| r.conflict.field).collect(),
        Err(e) => tracing::warn!(error = %e, "conflict resolution failed"),
    }
    let heads = doc.heads();
    let changed = is_new || heads != before;
    // Most pushes leave the server with exactly the device's heads: nothing to send back.
    let mut device_sorted = device_heads.clone();
    device_sorted.sort();
    let changes = if device_sorted == heads {
        Vec::new()
    } else {
        doc.save_after(&device_heads)
    };
    let ack = DocAck {
        id: push.id,
        error: None,
        heads: to_wire(&heads),
        changes,
        refusals,
        conflicts: conflicts_found,
    };
    MergeOutcome {
        doc: Some(doc),
        changed,
        touched,
        ack,
    }
}

/// An engineer's accepted field work on an order that is no longer theirs is kept and flagged.
fn flag_work_after_reassignment(
    doc: &mut WorkOrderDoc,
    before: &[ChangeHash],
    sender: Sender,
    ctx: &EditContext,
) -> Result<()> {
    let assignee = doc.dispatch()?.assignee;
    if assignee == Some(sender.user) || doc.heads() == before {
        return Ok(());
    }
    let detail = format!(
        "engineer {} synced work made offline after the order was re-assigned",
        sender.user
    );
    doc.record_event(ctx, "work_after_reassignment", &detail)?;
    doc.raise_flag(ctx, "work_after_reassignment", "visits", &detail)?;
    Ok(())
}

/// The scope rule for an engineer's device: orders assigned to them that are not closed. (A
/// cancelled or completed order stays until it is closed, so the engineer sees what happened.)
/// The server's SQL scope query must say the same: `assignee_id = $user AND status <> 'closed'`.
pub fn in_engineer_scope(doc: &WorkOrderDoc, engineer: crate::UserId) -> bool {
    doc.dispatch().ok().and_then(|d| d.assignee) == Some(engineer)
        && doc.status() != crate::Status::Closed
}

/// A document the server might send: its id, sequence, and whether the device has it already.
#[derive(Clone, Debug)]
pub struct PullCandidate {
    pub id: DocId,
    pub seq: u64,
    /// Approximate stored size, for paging and progress.
    pub size: u64,
    /// The device holds a version of it (the server sent it before, or the device pushed it).
    pub known_to_device: bool,
}

/// Which documents to send now, and the cursor after them. Candidates are the documents in
/// scope; those changed after `cursor` or unknown to the device are sent in sequence order
/// until `page_bytes` is reached.
pub struct PullPlan {
    pub send: Vec<DocId>,
    pub cursor: u64,
    pub more: bool,
    pub remaining_docs: u64,
    pub remaining_bytes: u64,
}

/// Plan the pulls of one response.
pub fn plan_pulls(
    mut candidates: Vec<PullCandidate>,
    cursor: u64,
    max_seq: u64,
    skip: &[DocId],
    page_bytes: usize,
    max_docs: usize,
) -> PullPlan {
    candidates.retain(|c| (c.seq > cursor || !c.known_to_device) && !skip.contains(&c.id));
    candidates.sort_by_key(|c| c.seq);
    let mut send = Vec::new();
    let mut bytes = 0u64;
    let mut first_left: Option<u64> = None;
    let (mut remaining_docs, mut remaining_bytes) = (0u64, 0u64);
    for c in &candidates {
        let fits =
            send.is_empty() || (bytes + c.size <= page_bytes as u64 && send.len() < max_docs);
        if first_left.is_none() && fits {
            bytes += c.size;
            send.push(c.id);
        } else {
            first_left.get_or_insert(c.seq);
            remaining_docs += 1;
            remaining_bytes += c.size;
        }
    }
    let (cursor, more) = match first_left {
        None => (cursor.max(max_seq), false),
        Some(seq) => (cursor.max(seq.saturating_sub(1)), true),
    };
    PullPlan {
        send,
        cursor,
        more,
        remaining_docs,
        remaining_bytes,
    }
}

/// What to send for one document: the changes after `device_heads` (what the server knows the
/// device has; empty for a document new to it).
pub fn pull_for(doc: &mut WorkOrderDoc, device_heads: &[ChangeHash]) -> Result<DocPull> {
    Ok(DocPull {
        id: doc.id()?,
        heads: to_wire(&doc.heads()),
        changes: if device_heads.is_empty() {
            doc.save()
        } else {
            doc.save_after(device_heads)
        },
    })
}
