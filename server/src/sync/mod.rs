//! The sync endpoint's engine: sync-core's server half (`sync_core::protocol::server`) composed
//! around the server database. The same steps run in `sync_core::protocol::memory::MemoryServer`,
//! the reference the property tests exercise; this module only adds storage.
//!
//! A request runs in two phases (docs/server.md, "The sync endpoint under load"):
//!
//! 1. **Prepare, without the write lock** ([`prepare`]): load each pushed document, merge the
//!    push, check authority and conflicts, and compute everything its save writes (the change
//!    chunk or snapshot, the projection row, what the parts ledger must post). This is nearly all
//!    the CPU work of a sync; it runs on the blocking pool, a bounded number of requests at a
//!    time, in parallel with other requests and with the writer.
//! 2. **Write, under the lock**: one database transaction, started with
//!    [`docstore::begin_write`] (which serialises writers and gives the transaction its change
//!    sequence). Each prepared document is written if the stored copy is still the one it was
//!    merged into (same heads); if another write got in between, that push is merged again here,
//!    under the lock, as a request without phase 1 would. Device state, documents, projections,
//!    ledger postings and the pending heads of the response commit together or not at all, so a
//!    request cut off at any byte, or a server killed at any instant, changes nothing twice.
//!
//! An idle sync (nothing pushed, nothing to pull, acknowledge or evict) writes nothing at all
//! ([`idle`]): the fleet's every-30-seconds syncs never queue for the lock. A sync that pushes
//! nothing but has something to acknowledge, pull or evict writes only its device's rows: it
//! takes no change sequence number and, on PostgreSQL, does not queue behind document writers.

pub mod feed;
mod prepare;

use crate::docstore;
use crate::error::{Error, Result};
use crate::state::AppState;
use prepare::PreparedPush;
use sqlx::AnyConnection;
use sync_core::protocol::server::{self as half, PullCandidate};
use sync_core::protocol::wire::{self, AckError, DocAck, SyncRequest, SyncResponse, from_wire};
use sync_core::rules::authority::Sender;
use sync_core::{DocId, OrgId, Role, UserId, WorkOrderDoc};

/// Who is syncing.
#[derive(Clone, Debug)]
pub struct Device {
    pub org: OrgId,
    pub user: UserId,
    pub device_id: String,
}

/// What a sync changed, for the live feed and the logs.
#[derive(Debug, Default)]
pub struct Outcome {
    pub response: Vec<u8>,
    pub merged: usize,
    pub sent: usize,
    /// Engineers whose scope may have changed (assignees before and after each merge).
    pub touched: Vec<UserId>,
    /// Pushes merged again under the lock because another write got in between.
    pub remerged: usize,
}

/// Answer one sync request. Malformed or wrong-version requests are [`Error::Protocol`] and
/// change nothing.
#[tracing::instrument(skip_all, fields(device = %device.device_id, pushes, pulls))]
pub async fn handle(state: &AppState, device: &Device, request: &[u8]) -> Result<Outcome> {
    let limits = wire::Limits::default();
    let req = wire::decode_request(request, &limits).map_err(|e| Error::Protocol(e.to_string()))?;
    tracing::Span::current().record("pushes", req.pushes.len());
    if req.pushes.is_empty()
        && req.evicted.is_empty()
        && let Some(out) = idle(state, device, &req, &limits).await?
    {
        return Ok(out);
    }
    let prepared = prepare::pushes(state, device, &req).await?;

    // A sync that pushes nothing writes no document: only its device's own rows (the token,
    // pending and acknowledged heads). It takes no change sequence number (its cursor comes from
    // the sequence read first, as an idle sync's) and, on PostgreSQL, does not queue behind the
    // document writers: the device's row lock orders it with that device's other syncs. SQLite
    // has one writer anyway, so there it queues in the process like the rest.
    let documents = !req.pushes.is_empty();
    let _turn = if documents || state.db.backend() == crate::db::Backend::Sqlite {
        Some(state.db.writer_turn().await?)
    } else {
        None
    };
    let mut tx = state.db.begin().await?;
    let seq = if documents {
        docstore::begin_write(&mut tx).await?
    } else {
        docstore::current_seq(&mut tx).await?
    };
    let out = write(state, device, &req, prepared, &limits, &mut tx, seq).await?;
    if out.merged > 0 {
        feed::notify_in_tx(&mut tx, state.db.backend(), device.org, &out.touched).await?;
    }
    tx.commit().await?;
    if out.merged > 0 {
        state.docs.feed().notify_local(device.org, &out.touched);
    }
    Ok(out)
}

/// Phase 2: everything the request writes, in the write transaction `tx` with change sequence
/// number `seq`.
async fn write(
    state: &AppState,
    device: &Device,
    req: &SyncRequest,
    prepared: Vec<Option<PreparedPush>>,
    limits: &wire::Limits,
    tx: &mut AnyConnection,
    seq: i64,
) -> Result<Outcome> {
    let org = device.org;
    let org_s = org.to_string();
    let dev = device.device_id.as_str();
    let now = crate::now_ms();

    // The response token, and what the device says it applied.
    let token: i64 = sqlx::query_scalar(
        "INSERT INTO sync_devices (org_id, device_id, token, last_sync_at) VALUES ($1, $2, 1, $3) \
         ON CONFLICT (org_id, device_id) DO UPDATE SET token = sync_devices.token + 1, \
         last_sync_at = excluded.last_sync_at RETURNING token",
    )
    .bind(&org_s)
    .bind(dev)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE sync_device_docs SET acked_heads = pending_heads, pending_heads = NULL, \
         pending_token = NULL WHERE org_id = $1 AND device_id = $2 AND pending_token = $3",
    )
    .bind(&org_s)
    .bind(dev)
    .bind(req.applied as i64)
    .execute(&mut *tx)
    .await?;
    // Any other pending heads belong to a response the device never applied.
    sqlx::query(
        "UPDATE sync_device_docs SET pending_heads = NULL, pending_token = NULL \
         WHERE org_id = $1 AND device_id = $2 AND pending_token IS NOT NULL",
    )
    .bind(&org_s)
    .bind(dev)
    .execute(&mut *tx)
    .await?;
    for id in &req.evicted {
        sqlx::query(
            "DELETE FROM sync_device_docs WHERE org_id = $1 AND device_id = $2 AND doc_id = $3",
        )
        .bind(&org_s)
        .bind(dev)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    }

    let mut out = Outcome::default();
    let mut acks: Vec<DocAck> = Vec::with_capacity(req.pushes.len());
    let mut pushed: Vec<DocId> = Vec::with_capacity(req.pushes.len());
    // Territories, for the projection of what is written: read once, under the lock.
    let mut areas = None;
    for (push, prep) in req.pushes.iter().zip(prepared) {
        let areas = match &areas {
            Some(a) => a,
            None => areas.insert(crate::territories::areas(tx, org).await?),
        };
        let ack = match prep {
            Some(prep) => {
                match prepare::write_one(tx, device, push, &prep, token, seq, areas).await? {
                    Some(merged) => {
                        if merged {
                            out.merged += 1;
                            out.touched.extend(prep.touched_users.iter().copied());
                        }
                        Some(prep.ack)
                    }
                    None => None,
                }
            }
            None => None,
        };
        let ack = match ack {
            Some(ack) => ack,
            None => {
                out.remerged += 1;
                merge_locked(state, device, push, token, seq, tx, &mut out).await?
            }
        };
        if ack.error.is_none() {
            pushed.push(push.id);
        }
        acks.push(ack);
    }

    // Pulls: the device's scope, changed since its cursor or unknown to it, up to `seq` (a
    // transaction without the lock may see later writes: they go in the next sync).
    let mut candidates = pull_candidates(tx, device, req.cursor).await?;
    candidates.retain(|c| i64::try_from(c.seq).is_ok_and(|s| s <= seq));
    let plan = half::plan_pulls(
        candidates,
        req.cursor,
        u64::try_from(seq).unwrap_or(0),
        &pushed,
        limits.page_bytes,
        limits.max_docs,
    );
    let mut pulls = Vec::with_capacity(plan.send.len());
    for id in &plan.send {
        let Some(mut doc) = docstore::load(tx, state.docs.actor(), org, *id).await? else {
            continue;
        };
        let acked = device_doc(tx, &org_s, dev, *id).await?.unwrap_or_default();
        let pull = half::pull_for(&mut doc, &acked).map_err(|e| Error::Invalid(e.to_string()))?;
        set_device_doc(
            tx,
            &org_s,
            dev,
            *id,
            &acked,
            Some((&from_wire(&pull.heads), token)),
        )
        .await?;
        pulls.push(pull);
    }
    tracing::Span::current().record("pulls", pulls.len());
    out.sent = pulls.len();

    let evict = evictions(tx, device).await?;
    // Reference data (catalog, the van's stock) changed since the device's version, read after
    // this request's merges and postings so the van already counts what was just synced.
    let reference =
        crate::inventory::reference_for_device(tx, org, device.user, req.reference_version).await?;

    let resp = SyncResponse {
        cursor: plan.cursor,
        token: token as u64,
        more: plan.more,
        acks,
        pulls,
        evict,
        remaining_docs: plan.remaining_docs,
        remaining_bytes: plan.remaining_bytes,
        reference,
    };
    out.response = wire::encode_response(&resp).map_err(|e| Error::Invalid(e.to_string()))?;
    Ok(out)
}

/// What every push goes through, prepared outside the lock or merged under it: an engineer's
/// device may push an order of its organisation that it is assigned or already has
/// ([`half::may_push`]); the merge applies field authority and the conflict rules. `None`: not
/// allowed. With the merge, the assignee before it (whose lists the push may change).
fn admit_and_merge(
    docs: &docstore::DocStore,
    org: OrgId,
    user: UserId,
    stored: Option<WorkOrderDoc>,
    known: bool,
    push: &wire::DocPush,
) -> Option<(Option<UserId>, half::MergeOutcome)> {
    let sender = Sender {
        user,
        role: Role::Engineer,
    };
    let in_scope = stored
        .as_ref()
        .is_some_and(|d| half::in_engineer_scope(d, user));
    if !half::may_push(stored.as_ref(), sender, org, in_scope, known) {
        return None;
    }
    let before_assignee = stored.as_ref().and_then(|d| d.dispatch().ok()?.assignee);
    let ctx = docs.edit_context(UserId(uuid::Uuid::nil()), Role::System);
    let merged = half::merge_push(stored, push, sender, docs.actor(), &ctx);
    Some((before_assignee, merged))
}

/// Merge one push under the lock, from the stored document as it is now: for pushes phase 1
/// could not prepare, or whose document another write changed since.
async fn merge_locked(
    state: &AppState,
    device: &Device,
    push: &wire::DocPush,
    token: i64,
    seq: i64,
    tx: &mut AnyConnection,
    out: &mut Outcome,
) -> Result<DocAck> {
    let org = device.org;
    let org_s = org.to_string();
    let dev = device.device_id.as_str();
    let stored = docstore::load(tx, state.docs.actor(), org, push.id).await?;
    let known = device_doc(tx, &org_s, dev, push.id).await?.is_some();
    let Some((before_assignee, merged)) =
        admit_and_merge(&state.docs, org, device.user, stored, known, push)
    else {
        return Ok(refused(push.id, AckError::NotAllowed));
    };
    let ack = merged.ack;
    match (merged.doc, merged.changed, ack.error) {
        (Some(mut doc), true, None) => {
            docstore::save(tx, org, &mut doc, seq).await?;
            if merged.touched.inventory() {
                crate::inventory::post_consumption(tx, org, &doc, seq).await?;
            }
            out.merged += 1;
            out.touched.extend(before_assignee);
            out.touched
                .extend(doc.dispatch().ok().and_then(|d| d.assignee));
            set_device_doc(
                tx,
                &org_s,
                dev,
                push.id,
                &from_wire(&push.heads),
                Some((&from_wire(&ack.heads), token)),
            )
            .await?;
        }
        (_, _, None) => {
            set_device_doc(tx, &org_s, dev, push.id, &from_wire(&push.heads), None).await?;
        }
        (_, _, Some(_)) => {}
    }
    Ok(ack)
}

/// An idle sync answered from reads alone, or `None` if it has anything to write: pulls,
/// pending heads to acknowledge or clear, evictions, or it is the device's first sync. Its
/// response repeats the device's current token (nothing new is pending under it) and moves the
/// cursor to the change sequence read *before* the scope, so a write committed in between is
/// seen by the next sync. `last_sync_at` is refreshed at most every five minutes.
async fn idle(
    state: &AppState,
    device: &Device,
    req: &SyncRequest,
    limits: &wire::Limits,
) -> Result<Option<Outcome>> {
    const LAST_SYNC_GRANULARITY_MS: i64 = 5 * 60 * 1000;
    let mut conn = state.db.pool().acquire().await?;
    let org_s = device.org.to_string();
    let dev = device.device_id.as_str();
    let seq = docstore::current_seq(&mut conn).await?;
    let known: Option<(i64, i64)> = sqlx::query_as(
        "SELECT token, last_sync_at FROM sync_devices WHERE org_id = $1 AND device_id = $2",
    )
    .bind(&org_s)
    .bind(dev)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((token, last_sync_at)) = known else {
        return Ok(None);
    };
    let pending: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM sync_device_docs WHERE org_id = $1 AND device_id = $2 \
         AND pending_token IS NOT NULL LIMIT 1",
    )
    .bind(&org_s)
    .bind(dev)
    .fetch_optional(&mut *conn)
    .await?;
    if pending.is_some()
        || !pull_candidates(&mut conn, device, req.cursor)
            .await?
            .is_empty()
    {
        return Ok(None);
    }
    let evict = evictions(&mut conn, device).await?;
    if !evict.is_empty() {
        return Ok(None);
    }
    let plan = half::plan_pulls(
        Vec::new(),
        req.cursor,
        u64::try_from(seq).unwrap_or(0),
        &[],
        limits.page_bytes,
        limits.max_docs,
    );
    let reference = crate::inventory::reference_for_device(
        &mut conn,
        device.org,
        device.user,
        req.reference_version,
    )
    .await?;
    let now = crate::now_ms();
    if now - last_sync_at >= LAST_SYNC_GRANULARITY_MS {
        sqlx::query(
            "UPDATE sync_devices SET last_sync_at = $3 WHERE org_id = $1 AND device_id = $2 \
             AND last_sync_at < $3",
        )
        .bind(&org_s)
        .bind(dev)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    let resp = SyncResponse {
        cursor: plan.cursor,
        token: token as u64,
        more: false,
        acks: Vec::new(),
        pulls: Vec::new(),
        evict: Vec::new(),
        remaining_docs: 0,
        remaining_bytes: 0,
        reference,
    };
    Ok(Some(Outcome {
        response: wire::encode_response(&resp).map_err(|e| Error::Invalid(e.to_string()))?,
        ..Outcome::default()
    }))
}

/// The device's scope that changed since `cursor` or that it does not hold yet.
async fn pull_candidates(
    conn: &mut AnyConnection,
    device: &Device,
    cursor: u64,
) -> Result<Vec<PullCandidate>> {
    let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT d.id, d.seq, length(d.snapshot) + d.changes_bytes, \
                CASE WHEN r.doc_id IS NULL THEN 0 ELSE 1 END \
         FROM work_orders w \
         JOIN documents d ON d.org_id = w.org_id AND d.id = w.id \
         LEFT JOIN sync_device_docs r \
                ON r.org_id = w.org_id AND r.device_id = $3 AND r.doc_id = w.id \
         WHERE w.org_id = $1 AND w.assignee_id = $2 AND w.status <> 'closed' \
           AND (d.seq > $4 OR r.doc_id IS NULL)",
    )
    .bind(device.org.to_string())
    .bind(device.user.to_string())
    .bind(&device.device_id)
    .bind(cursor as i64)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, seq, size, known)| {
            Some(PullCandidate {
                id: id.parse().ok()?,
                seq: u64::try_from(seq).ok()?,
                size: u64::try_from(size).unwrap_or(0),
                known_to_device: known == 1,
            })
        })
        .collect())
}

/// Documents the device holds that left its scope.
async fn evictions(conn: &mut AnyConnection, device: &Device) -> Result<Vec<DocId>> {
    let evict: Vec<String> = sqlx::query_scalar(
        "SELECT r.doc_id FROM sync_device_docs r \
         LEFT JOIN work_orders w ON w.org_id = r.org_id AND w.id = r.doc_id \
         WHERE r.org_id = $1 AND r.device_id = $2 \
           AND (w.id IS NULL OR w.assignee_id IS NULL OR w.assignee_id <> $3 \
                OR w.status = 'closed')",
    )
    .bind(device.org.to_string())
    .bind(&device.device_id)
    .bind(device.user.to_string())
    .fetch_all(conn)
    .await?;
    Ok(evict.iter().filter_map(|s| s.parse().ok()).collect())
}

fn refused(id: DocId, error: AckError) -> DocAck {
    DocAck {
        id,
        error: Some(error),
        heads: Vec::new(),
        changes: Vec::new(),
        refusals: Vec::new(),
        conflicts: Vec::new(),
    }
}

/// The heads the server knows `device` has of `doc`, if it has the document at all.
pub(crate) async fn device_doc(
    conn: &mut AnyConnection,
    org: &str,
    device: &str,
    doc: DocId,
) -> Result<Option<Vec<automerge::ChangeHash>>> {
    let heads: Option<String> = sqlx::query_scalar(
        "SELECT acked_heads FROM sync_device_docs WHERE org_id = $1 AND device_id = $2 AND doc_id = $3",
    )
    .bind(org)
    .bind(device)
    .bind(doc.to_string())
    .fetch_optional(conn)
    .await?;
    heads.map(|h| docstore::decode_heads(&h)).transpose()
}

pub(crate) async fn set_device_doc(
    conn: &mut AnyConnection,
    org: &str,
    device: &str,
    doc: DocId,
    acked: &[automerge::ChangeHash],
    pending: Option<(&[automerge::ChangeHash], i64)>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO sync_device_docs (org_id, device_id, doc_id, acked_heads, pending_heads, \
         pending_token) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (org_id, device_id, doc_id) DO UPDATE SET acked_heads = excluded.acked_heads, \
         pending_heads = excluded.pending_heads, pending_token = excluded.pending_token",
    )
    .bind(org)
    .bind(device)
    .bind(doc.to_string())
    .bind(docstore::encode_heads(acked))
    .bind(pending.map(|(h, _)| docstore::encode_heads(h)))
    .bind(pending.map(|(_, t)| t))
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether anything in `device`'s scope changed after `cursor`, or a document it holds left its
/// scope: what the long poll waits for.
pub async fn scope_changed(state: &AppState, device: &Device, cursor: u64) -> Result<bool> {
    let mut conn = state.db.pool().acquire().await?;
    let org = device.org.to_string();
    let user = device.user.to_string();
    let changed: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM work_orders w \
         LEFT JOIN sync_device_docs r \
                ON r.org_id = w.org_id AND r.device_id = $3 AND r.doc_id = w.id \
         WHERE w.org_id = $1 AND w.assignee_id = $2 AND w.status <> 'closed' \
           AND (w.updated_seq > $4 OR r.doc_id IS NULL) LIMIT 1",
    )
    .bind(&org)
    .bind(&user)
    .bind(&device.device_id)
    .bind(cursor as i64)
    .fetch_optional(&mut *conn)
    .await?;
    if changed.is_some() {
        return Ok(true);
    }
    let left: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM sync_device_docs r \
         LEFT JOIN work_orders w ON w.org_id = r.org_id AND w.id = r.doc_id \
         WHERE r.org_id = $1 AND r.device_id = $2 \
           AND (w.id IS NULL OR w.assignee_id IS NULL OR w.assignee_id <> $3 \
                OR w.status = 'closed') LIMIT 1",
    )
    .bind(&org)
    .bind(&device.device_id)
    .bind(&user)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(left.is_some())
}
