//! Work-order documents in the server database: compacted snapshots plus incremental change
//! chunks (`documents`, `doc_changes`), the global change sequence (`change_seq`) and the
//! `work_orders` projection, written in one transaction.
//!
//! The write protocol, for REST edits and the sync endpoint alike:
//!
//! ```text
//! let mut tx = db.begin().await?;                          // BEGIN IMMEDIATE on SQLite
//! let seq = docstore::begin_write(&mut tx).await?;          // takes the write lock, first
//! let mut doc = docstore::load(&mut tx, store.actor(), org, id).await?.ok_or(..)?;
//! doc.apply_changes(&bytes)?;  /  doc.assign(&ctx, ..)?;     // sync-core does the work
//! docstore::save(&mut tx, org, &mut doc, seq).await?;       // document + projection
//! tx.commit().await?;
//! ```
//!
//! `begin_write` bumps the one `change_seq` row. Its row lock (PostgreSQL) or the write lock
//! (SQLite) serialises writers, so (a) a document loaded after it is the latest committed one
//! and no concurrent write can be lost, and (b) sequence numbers become visible in commit order,
//! so a device's cursor ("everything after seq N") can never skip a write that committed late,
//! which a PostgreSQL `SEQUENCE` would allow. Several documents saved in one transaction share
//! its seq. [`DocStore::update`] wraps the protocol for one document.

use crate::db::Db;
use crate::error::{Error, Result};
use crate::now_ms;
use automerge::ChangeHash;
use sqlx::{AnyConnection, Row};
use std::sync::{Arc, Mutex};
use sync_core::{ActorId, DocId, EditContext, Hlc, OrgId, Role, UserId, WorkOrderDoc};

const ACTOR_KEY: &str = "automerge_actor";
const WORK_ORDER: &str = "work_order";

/// The server's document identity: its Automerge actor (random per server database, persisted,
/// shared by every node on that database: safe because writes are serialised and always start
/// from the latest stored state) and its hybrid logical clock.
#[derive(Clone, Debug)]
pub struct DocStore {
    actor: ActorId,
    node: u32,
    clock: Arc<Mutex<Hlc>>,
    /// Wakes the long polls of engineers whose scope a write may have changed.
    feed: Arc<crate::sync::feed::Feed>,
}

impl DocStore {
    /// Load the server's actor id, creating it on first start.
    pub async fn open(db: &Db) -> Result<DocStore> {
        let candidate = hex::encode(ActorId::random().to_bytes());
        sqlx::query(
            "INSERT INTO server_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(ACTOR_KEY)
        .bind(&candidate)
        .execute(db.pool())
        .await?;
        let stored: String = sqlx::query_scalar("SELECT value FROM server_meta WHERE key = $1")
            .bind(ACTOR_KEY)
            .fetch_one(db.pool())
            .await?;
        let bytes = hex::decode(&stored)
            .map_err(|_| Error::Invalid("stored actor id is not hex".into()))?;
        let actor = ActorId::from_bytes(&bytes);
        let node = bytes
            .iter()
            .take(4)
            .fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
        Ok(DocStore {
            actor,
            node,
            clock: Arc::new(Mutex::new(Hlc::ZERO)),
            feed: Arc::default(),
        })
    }

    /// The live change feed of this process.
    pub fn feed(&self) -> &Arc<crate::sync::feed::Feed> {
        &self.feed
    }

    pub fn actor(&self) -> &ActorId {
        &self.actor
    }

    /// A context for an edit made on the server by `user` acting as `role`, with a fresh HLC.
    pub fn edit_context(&self, user: UserId, role: Role) -> EditContext {
        let now = now_ms();
        let hlc = {
            let mut clock = self.clock.lock().expect("clock lock");
            *clock = clock.tick(now, self.node);
            *clock
        };
        EditContext {
            user,
            role,
            device_time_ms: now,
            hlc,
        }
    }

    /// Load one document, let `edit` change it, and save it with its projection, in one
    /// transaction. `Ok(None)` if the document does not exist in `org`; an error from `edit`
    /// rolls everything back.
    pub async fn update<T>(
        &self,
        db: &Db,
        org: OrgId,
        id: DocId,
        edit: impl FnOnce(&mut WorkOrderDoc) -> Result<T>,
    ) -> Result<Option<T>> {
        let _turn = db.writer_turn().await?;
        let mut tx = db.begin().await?;
        let seq = begin_write(&mut tx).await?;
        let Some(mut doc) = load(&mut tx, &self.actor, org, id).await? else {
            return Ok(None);
        };
        let before = doc.dispatch().ok().and_then(|d| d.assignee);
        let out = edit(&mut doc)?;
        save(&mut tx, org, &mut doc, seq).await?;
        // Whoever had it and whoever has it now: their devices' scopes may have changed.
        let touched: Vec<UserId> = before
            .into_iter()
            .chain(doc.dispatch().ok().and_then(|d| d.assignee))
            .collect();
        crate::sync::feed::notify_in_tx(&mut tx, db.backend(), org, &touched).await?;
        tx.commit().await?;
        self.feed.notify_local(org, &touched);
        Ok(Some(out))
    }
}

/// Take the write lock and the transaction's change sequence number. Call it first in the
/// transaction, before loading what you will change.
pub async fn begin_write(tx: &mut AnyConnection) -> Result<i64> {
    let seq =
        sqlx::query_scalar("UPDATE change_seq SET value = value + 1 WHERE id = 1 RETURNING value")
            .fetch_one(&mut *tx)
            .await?;
    Ok(seq)
}

/// The next human order number of an organisation, e.g. `WO-000042`.
pub async fn next_order_number(tx: &mut AnyConnection, org: OrgId) -> Result<String> {
    let n: i64 = sqlx::query_scalar(
        "UPDATE organisations SET order_counter = order_counter + 1 WHERE id = $1 \
         RETURNING order_counter",
    )
    .bind(org.to_string())
    .fetch_one(tx)
    .await?;
    Ok(format!("WO-{n:06}"))
}

/// The highest change sequence number committed so far.
pub async fn current_seq(conn: &mut AnyConnection) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT value FROM change_seq WHERE id = 1")
            .fetch_one(conn)
            .await?,
    )
}

/// Whether `org` has the work order `id`.
pub async fn exists(conn: &mut AnyConnection, org: OrgId, id: DocId) -> Result<bool> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT seq FROM documents WHERE org_id = $1 AND id = $2 AND kind = $3")
            .bind(org.to_string())
            .bind(id.to_string())
            .bind(WORK_ORDER)
            .fetch_optional(conn)
            .await?;
    Ok(found.is_some())
}

/// Load a work order of `org` (snapshot plus change chunks), acting as `actor`.
pub async fn load(
    conn: &mut AnyConnection,
    actor: &ActorId,
    org: OrgId,
    id: DocId,
) -> Result<Option<WorkOrderDoc>> {
    Ok(load_with_meta(conn, actor, org, id)
        .await?
        .map(|(doc, _)| doc))
}

/// A stored document's bookkeeping, read with it: what [`prepare`] needs to know to save a
/// changed copy, and what [`write_prepared`] checks to know the copy is still the latest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMeta {
    /// Heads of everything stored (snapshot plus chunks).
    pub heads: Vec<ChangeHash>,
    /// Change sequence number of its last write.
    pub seq: i64,
    pub changes_bytes: i64,
    pub snapshot_len: i64,
}

/// [`load`], with the stored bookkeeping. Outside a write transaction the two reads may straddle
/// a concurrent write: then the document's heads differ from `meta.heads`, which
/// [`prepare`] refuses, so a caller that loads without the lock falls back to loading under it.
pub async fn load_with_meta(
    conn: &mut AnyConnection,
    actor: &ActorId,
    org: OrgId,
    id: DocId,
) -> Result<Option<(WorkOrderDoc, StoredMeta)>> {
    let row = sqlx::query(
        "SELECT snapshot, heads, seq, changes_bytes FROM documents \
         WHERE org_id = $1 AND id = $2 AND kind = $3",
    )
    .bind(org.to_string())
    .bind(id.to_string())
    .bind(WORK_ORDER)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let snapshot: Vec<u8> = row.try_get("snapshot")?;
    let meta = StoredMeta {
        heads: decode_heads(&row.try_get::<String, _>("heads")?)?,
        seq: row.try_get("seq")?,
        changes_bytes: row.try_get("changes_bytes")?,
        snapshot_len: snapshot.len() as i64,
    };
    let mut doc = WorkOrderDoc::load(&snapshot, actor)?;
    if meta.changes_bytes > 0 {
        let chunks: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT data FROM doc_changes WHERE org_id = $1 AND doc_id = $2 ORDER BY seq",
        )
        .bind(org.to_string())
        .bind(id.to_string())
        .fetch_all(&mut *conn)
        .await?;
        if !chunks.is_empty() {
            doc.apply_changes(&chunks.concat())?;
        }
    }
    Ok(Some((doc, meta)))
}

/// What [`save`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Saved {
    /// A new document was stored.
    Created,
    /// Changes were appended (or the document re-compacted).
    Updated,
    /// The document had nothing the store lacked; nothing was written.
    Unchanged,
}

/// Everything [`save`] writes for a document, computed from the document alone ([`prepare`]):
/// the CPU half of a save, which the sync endpoint does before it takes the write lock.
#[derive(Clone, Debug)]
pub struct Prepared {
    org: OrgId,
    id: DocId,
    /// The stored heads this was prepared against (`None`: a new document).
    base: Option<Vec<ChangeHash>>,
    heads: Vec<ChangeHash>,
    write: Write,
    /// `None` only when nothing is written.
    projection: Option<Projection>,
}

#[derive(Clone, Debug)]
enum Write {
    Create { snapshot: Vec<u8> },
    Append { delta: Vec<u8>, changes_bytes: i64 },
    Compact { snapshot: Vec<u8> },
    Nothing,
}

/// The `work_orders` row of a document, but for its territory (computed when written, from the
/// territories of that moment).
#[derive(Clone, Debug)]
struct Projection {
    summary: sync_core::workorder::OrderSummary,
    customer_id: String,
    created_at_ms: i64,
}

impl Prepared {
    /// Nothing to write over the stored copy with heads `base`: [`write_prepared`] only checks
    /// that the stored copy is still that one.
    pub fn unchanged(org: OrgId, id: DocId, base: Vec<ChangeHash>) -> Prepared {
        Prepared {
            org,
            id,
            heads: base.clone(),
            base: Some(base),
            write: Write::Nothing,
            projection: None,
        }
    }

    /// Whether saving writes anything.
    pub fn changes_anything(&self) -> bool {
        !matches!(self.write, Write::Nothing)
    }
}

/// Compute what saving `doc` over the stored copy described by `stored` (`None`: new) writes.
/// `compact` forces a new snapshot (a second save in one transaction must not add a second chunk
/// under the same seq). Refuses a document of another organisation, and one that lacks changes
/// already stored.
pub fn prepare(
    doc: &mut WorkOrderDoc,
    org: OrgId,
    stored: Option<&StoredMeta>,
    compact: bool,
) -> Result<Prepared> {
    if doc.org()? != org {
        return Err(Error::Invalid(
            "document belongs to another organisation".into(),
        ));
    }
    let write = match stored {
        None => Write::Create {
            snapshot: doc.save(),
        },
        Some(meta) => {
            if !doc.has_all(&meta.heads) {
                return Err(Error::Conflict(
                    "the document changed since it was loaded; load it after begin_write".into(),
                ));
            }
            let delta = doc.save_after(&meta.heads);
            let grown = meta.changes_bytes + delta.len() as i64;
            if delta.is_empty() {
                Write::Nothing
            } else if compact || grown >= meta.snapshot_len {
                // automerge-repo's rule: compact once the changes reach the snapshot's size.
                Write::Compact {
                    snapshot: doc.save(),
                }
            } else {
                Write::Append {
                    delta,
                    changes_bytes: grown,
                }
            }
        }
    };
    let header = doc.header()?;
    let (customer_id, created_at_ms) = (header.customer.id.clone(), header.created_at_ms);
    let summary = doc.summary_with(header)?;
    Ok(Prepared {
        org,
        id: summary.id,
        base: stored.map(|m| m.heads.clone()),
        heads: doc.heads(),
        write,
        projection: Some(Projection {
            summary,
            customer_id,
            created_at_ms,
        }),
    })
}

/// Store `doc` (new or changed) and its projection row under `seq` (from [`begin_write`] in the
/// same transaction). Only the changes the stored copy lacks are appended; when they outgrow
/// the snapshot, the document is re-compacted into a new snapshot. Refuses a document of another
/// organisation, and a stale copy that lacks changes already stored (load it inside the
/// transaction, after `begin_write`).
pub async fn save(
    tx: &mut AnyConnection,
    org: OrgId,
    doc: &mut WorkOrderDoc,
    seq: i64,
) -> Result<Saved> {
    let id = doc.id()?;
    let stored = stored_meta(tx, org, id).await?;
    let compact = stored.as_ref().is_some_and(|m| m.seq == seq);
    let prepared = prepare(doc, org, stored.as_ref(), compact)?;
    let areas = crate::territories::areas(tx, org).await?;
    write(tx, &prepared, seq, &areas).await
}

/// Write what [`prepare`] computed, if the stored document is still the one it was prepared
/// against (same heads, and no chunk under `seq` yet); `Ok(None)` if not: load and merge again
/// under the lock. `areas` are the organisation's territories (`territories::areas`, read in
/// this transaction).
pub async fn write_prepared(
    tx: &mut AnyConnection,
    prepared: &Prepared,
    seq: i64,
    areas: &[(String, geo::MultiPolygon<f64>)],
) -> Result<Option<Saved>> {
    let now = stored_meta(tx, prepared.org, prepared.id).await?;
    let still = match (&prepared.base, &now) {
        (None, None) => true,
        (Some(base), Some(meta)) => {
            *base == meta.heads
                && !(meta.seq == seq && matches!(prepared.write, Write::Append { .. }))
        }
        _ => false,
    };
    if !still {
        return Ok(None);
    }
    write(tx, prepared, seq, areas).await.map(Some)
}

async fn stored_meta(
    conn: &mut AnyConnection,
    org: OrgId,
    id: DocId,
) -> Result<Option<StoredMeta>> {
    let row = sqlx::query(
        "SELECT heads, seq, changes_bytes, length(snapshot) AS snapshot_len FROM documents \
         WHERE org_id = $1 AND id = $2",
    )
    .bind(org.to_string())
    .bind(id.to_string())
    .fetch_optional(conn)
    .await?;
    row.map(|row| {
        Ok(StoredMeta {
            heads: decode_heads(&row.try_get::<String, _>("heads")?)?,
            seq: row.try_get("seq")?,
            changes_bytes: row.try_get("changes_bytes")?,
            snapshot_len: row.try_get("snapshot_len")?,
        })
    })
    .transpose()
}

async fn write(
    tx: &mut AnyConnection,
    prepared: &Prepared,
    seq: i64,
    areas: &[(String, geo::MultiPolygon<f64>)],
) -> Result<Saved> {
    let org_s = prepared.org.to_string();
    let id = prepared.id.to_string();
    let heads = encode_heads(&prepared.heads);
    let now = now_ms();
    let outcome = match &prepared.write {
        Write::Nothing => return Ok(Saved::Unchanged),
        Write::Create { snapshot } => {
            sqlx::query(
                "INSERT INTO documents (org_id, id, kind, snapshot, snapshot_heads, heads, \
                 changes_bytes, seq, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5, 0, $6, $7, $7)",
            )
            .bind(&org_s)
            .bind(&id)
            .bind(WORK_ORDER)
            .bind(snapshot.as_slice())
            .bind(&heads)
            .bind(seq)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            Saved::Created
        }
        Write::Compact { snapshot } => {
            sqlx::query("DELETE FROM doc_changes WHERE org_id = $1 AND doc_id = $2")
                .bind(&org_s)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE documents SET snapshot = $3, snapshot_heads = $4, heads = $4, \
                 changes_bytes = 0, seq = $5, updated_at = $6 WHERE org_id = $1 AND id = $2",
            )
            .bind(&org_s)
            .bind(&id)
            .bind(snapshot.as_slice())
            .bind(&heads)
            .bind(seq)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            Saved::Updated
        }
        Write::Append {
            delta,
            changes_bytes,
        } => {
            sqlx::query(
                "INSERT INTO doc_changes (org_id, doc_id, seq, data) VALUES ($1, $2, $3, $4)",
            )
            .bind(&org_s)
            .bind(&id)
            .bind(seq)
            .bind(delta.as_slice())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE documents SET heads = $3, changes_bytes = $4, seq = $5, \
                 updated_at = $6 WHERE org_id = $1 AND id = $2",
            )
            .bind(&org_s)
            .bind(&id)
            .bind(&heads)
            .bind(changes_bytes)
            .bind(seq)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            Saved::Updated
        }
    };
    project(tx, prepared, seq, areas).await?;
    Ok(outcome)
}

/// Write the `work_orders` row of a prepared document.
async fn project(
    tx: &mut AnyConnection,
    prepared: &Prepared,
    seq: i64,
    areas: &[(String, geo::MultiPolygon<f64>)],
) -> Result<()> {
    let Some(p) = &prepared.projection else {
        return Ok(());
    };
    let s = &p.summary;
    let territory = crate::territories::containing(areas, s.lat, s.lon);
    sqlx::query(
        "INSERT INTO work_orders (org_id, id, number, status, priority, priority_rank, \
         assignee_id, window_start, window_end, sla_due, customer_id, customer_name, \
         site_address, site_lat, site_lon, asset_serial, problem, open_flags, created_at, \
         updated_seq, territory_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19, $20, $21) \
         ON CONFLICT (org_id, id) DO UPDATE SET number = excluded.number, \
         status = excluded.status, priority = excluded.priority, \
         priority_rank = excluded.priority_rank, assignee_id = excluded.assignee_id, \
         window_start = excluded.window_start, window_end = excluded.window_end, \
         sla_due = excluded.sla_due, customer_id = excluded.customer_id, \
         customer_name = excluded.customer_name, site_address = excluded.site_address, \
         site_lat = excluded.site_lat, site_lon = excluded.site_lon, \
         asset_serial = excluded.asset_serial, problem = excluded.problem, \
         open_flags = excluded.open_flags, updated_seq = excluded.updated_seq, \
         territory_id = excluded.territory_id",
    )
    .bind(prepared.org.to_string())
    .bind(s.id.to_string())
    .bind(&s.number)
    .bind(s.status.as_str().to_owned())
    .bind(s.priority.as_str())
    .bind(s.priority.rank())
    .bind(s.assignee.map(|u| u.to_string()))
    .bind(s.window_start_ms)
    .bind(s.window_end_ms)
    .bind(s.sla_due_ms)
    .bind(&p.customer_id)
    .bind(&s.customer_name)
    .bind(&s.site_address)
    .bind(s.lat)
    .bind(s.lon)
    .bind(&s.asset_serial)
    .bind(&s.problem)
    .bind(i64::from(s.open_flags))
    .bind(p.created_at_ms)
    .bind(seq)
    .bind(territory)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Ids of `org`'s work orders written after `cursor`, oldest first, at most `limit`, with the
/// seq of their last write: the feed the sync endpoint filters by scope.
pub async fn changed_since(
    conn: &mut AnyConnection,
    org: OrgId,
    cursor: i64,
    limit: i64,
) -> Result<Vec<(DocId, i64)>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT id, seq FROM documents WHERE org_id = $1 AND seq > $2 AND kind = $3 \
         ORDER BY seq, id LIMIT $4",
    )
    .bind(org.to_string())
    .bind(cursor)
    .bind(WORK_ORDER)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|(id, seq)| {
            id.parse()
                .map(|id| (id, seq))
                .map_err(|_| Error::Invalid("stored document id is malformed".into()))
        })
        .collect()
}

/// A work order in an engineer's sync scope, with what `sync_core::protocol::server::plan_pulls`
/// needs to know about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScopeEntry {
    pub id: DocId,
    /// Change sequence number of its last write.
    pub seq: i64,
    /// Approximate stored size in bytes (snapshot plus change chunks).
    pub size: i64,
}

/// The work orders in `engineer`'s scope, by seq: assigned to them and not closed. This is the
/// SQL twin of `sync_core::protocol::server::in_engineer_scope`; it reads the projection
/// (index `work_orders_by_assignee`) and never loads a document.
pub async fn engineer_scope(
    conn: &mut AnyConnection,
    org: OrgId,
    engineer: UserId,
) -> Result<Vec<ScopeEntry>> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT d.id, d.seq, length(d.snapshot) + d.changes_bytes \
         FROM work_orders w JOIN documents d ON d.org_id = w.org_id AND d.id = w.id \
         WHERE w.org_id = $1 AND w.assignee_id = $2 AND w.status <> 'closed' \
         ORDER BY d.seq, d.id",
    )
    .bind(org.to_string())
    .bind(engineer.to_string())
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|(id, seq, size)| {
            let id = id
                .parse()
                .map_err(|_| Error::Invalid("stored document id is malformed".into()))?;
            Ok(ScopeEntry { id, seq, size })
        })
        .collect()
}

/// Heads as stored: lower-case hex hashes, comma separated.
pub fn encode_heads(heads: &[ChangeHash]) -> String {
    heads
        .iter()
        .map(|h| hex::encode(h.0))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parse [`encode_heads`]' output.
pub fn decode_heads(s: &str) -> Result<Vec<ChangeHash>> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<ChangeHash>()
                .map_err(|_| Error::Invalid("stored heads are malformed".into()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_round_trip_through_text() {
        let hashes = vec![ChangeHash([1; 32]), ChangeHash([0xab; 32])];
        let text = encode_heads(&hashes);
        assert_eq!(decode_heads(&text).unwrap(), hashes);
        assert!(decode_heads("").unwrap().is_empty());
        assert!(decode_heads("zz").is_err());
    }
}
