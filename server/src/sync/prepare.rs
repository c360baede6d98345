//! Phase 1 of a sync request: merge the pushes without the write lock.
//!
//! Each push is merged into the stored document as loaded now, and everything its save would
//! write is computed ([`docstore::prepare`], [`OrderParts::read`]). Phase 2 ([`write_one`])
//! writes it if the stored document is still the one it was merged into, and otherwise tells the
//! caller to merge that push again under the lock. So a push is accepted or refused exactly as if
//! the whole request had run under the lock; phase 1 only moves the CPU work out of it.

use super::{Device, device_doc, set_device_doc};
use crate::docstore::{self, Prepared, StoredMeta};
use crate::error::{Error, Result};
use crate::inventory::OrderParts;
use crate::state::AppState;
use sqlx::AnyConnection;
use sync_core::protocol::wire::{DocAck, DocPush, SyncRequest, from_wire};
use sync_core::{UserId, WorkOrderDoc};

/// A push merged in phase 1, ready to write.
#[derive(Debug)]
pub(super) struct PreparedPush {
    pub ack: DocAck,
    /// What to store (possibly nothing: [`Prepared::changes_anything`]).
    save: Prepared,
    /// What the parts ledger posts, when the push touched consumption, requests or status.
    parts: Option<OrderParts>,
    /// Assignees before and after the merge: their devices' scopes may have changed.
    pub touched_users: Vec<UserId>,
}

/// A pushed document as loaded in phase 1.
struct Loaded {
    doc: Option<(WorkOrderDoc, StoredMeta)>,
    known: bool,
}

/// Merge every push of `req` without the lock. One entry per push, in order: `None` where phase
/// 1 cannot decide alone (a refusal, which depends on the state under the lock, or a document
/// that changed while it was being read); phase 2 merges those under the lock.
pub(super) async fn pushes(
    state: &AppState,
    device: &Device,
    req: &SyncRequest,
) -> Result<Vec<Option<PreparedPush>>> {
    if req.pushes.is_empty() {
        return Ok(Vec::new());
    }
    // A bounded number of requests merge at a time: the merges are CPU work, and every
    // loaded document is memory.
    let _permit = state.merge_permit().await?;
    let org = device.org;
    let org_s = org.to_string();
    let mut loaded = Vec::with_capacity(req.pushes.len());
    {
        let mut conn = state.db.pool().acquire().await?;
        for push in &req.pushes {
            let doc = docstore::load_with_meta(&mut conn, state.docs.actor(), org, push.id).await?;
            let known = device_doc(&mut conn, &org_s, &device.device_id, push.id)
                .await?
                .is_some();
            loaded.push(Loaded { doc, known });
        }
    }
    let pushes = req.pushes.clone();
    let docs = state.docs.clone();
    let user = device.user;
    tokio::task::spawn_blocking(move || {
        pushes
            .iter()
            .zip(loaded)
            .map(|(push, loaded)| merge_one(&docs, org, user, push, loaded))
            .collect()
    })
    .await
    .map_err(|e| Error::Invalid(format!("merge task failed: {e}")))
}

fn merge_one(
    docs: &docstore::DocStore,
    org: sync_core::OrgId,
    user: UserId,
    push: &DocPush,
    loaded: Loaded,
) -> Option<PreparedPush> {
    let (stored, meta) = match loaded.doc {
        Some((mut doc, meta)) => {
            // Snapshot and chunks were read by two statements: a write in between shows as
            // heads that differ from the row's. Leave it to the lock.
            if doc.heads() != meta.heads {
                return None;
            }
            (Some(doc), Some(meta))
        }
        None => (None, None),
    };
    let (before_assignee, merged) =
        super::admit_and_merge(docs, org, user, stored, loaded.known, push)?;
    if merged.ack.error.is_some() {
        return None;
    }
    let mut touched_users: Vec<UserId> = before_assignee.into_iter().collect();
    let (save, parts) = match (merged.doc, merged.changed) {
        (Some(doc), false) => {
            let (Some(meta), Ok(id)) = (meta, doc.id()) else {
                return None;
            };
            (Prepared::unchanged(org, id, meta.heads), None)
        }
        (Some(mut doc), true) => {
            let save = match docstore::prepare(&mut doc, org, meta.as_ref(), false) {
                Ok(p) => p,
                Err(e) => {
                    tracing::debug!(error = %e, "cannot prepare a merged push; merging under the lock");
                    return None;
                }
            };
            let parts = if merged.touched.inventory() {
                match OrderParts::read(&doc) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read a work order to post its consumption");
                        None
                    }
                }
            } else {
                None
            };
            touched_users.extend(doc.dispatch().ok().and_then(|d| d.assignee));
            (save, parts)
        }
        (None, _) => return None,
    };
    Some(PreparedPush {
        ack: merged.ack,
        save,
        parts,
        touched_users,
    })
}

/// Phase 2 for one prepared push: write it, if the stored document is still the one it was
/// merged into. `Some(true)`: stored (the document changed); `Some(false)`: nothing to store;
/// `None`: stale, merge it again under the lock.
pub(super) async fn write_one(
    tx: &mut AnyConnection,
    device: &Device,
    push: &DocPush,
    prep: &PreparedPush,
    token: i64,
    seq: i64,
    areas: &[(String, geo::MultiPolygon<f64>)],
) -> Result<Option<bool>> {
    let org_s = device.org.to_string();
    let dev = device.device_id.as_str();
    if docstore::write_prepared(tx, &prep.save, seq, areas)
        .await?
        .is_none()
    {
        return Ok(None);
    }
    if !prep.save.changes_anything() {
        // The device had nothing the server lacked.
        set_device_doc(tx, &org_s, dev, push.id, &from_wire(&push.heads), None).await?;
        return Ok(Some(false));
    }
    if let Some(parts) = &prep.parts {
        crate::inventory::post(tx, device.org, parts, seq).await?;
    }
    set_device_doc(
        tx,
        &org_s,
        dev,
        push.id,
        &from_wire(&push.heads),
        Some((&from_wire(&prep.ack.heads), token)),
    )
    .await?;
    Ok(Some(true))
}
