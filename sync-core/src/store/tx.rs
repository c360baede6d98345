//! [`StoreTx`]: everything the store does, inside one SQLite transaction.

use super::query;
use crate::{ActorId, DocId, Error, Result, WorkOrderDoc};
use automerge::ChangeHash;
use rusqlite::{OptionalExtension, Transaction, params};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Meta key of the device's hybrid logical clock.
const HLC_META: &str = "store.hlc";

/// Meta keys the store keeps for itself; [`StoreTx::set_meta`] refuses this prefix so that
/// nothing can overwrite the install's actor id.
pub(crate) const RESERVED_META_PREFIX: &str = "store.";
pub(crate) const META_ACTOR: &str = "store.actor";
const META_CURSOR: &str = "store.cursor";

/// Compaction: replace the snapshot once the chunks appended since outweigh it...
const fn chunks_outweigh(snapshot_len: u64, chunk_bytes: u64) -> bool {
    chunk_bytes > snapshot_len
}
/// ...or, for a small document (where the first rule would take long to trigger relative to the
/// per-chunk overhead of loading), once there are more than a few chunks.
const SMALL_SNAPSHOT: u64 = 1024;
const SMALL_SNAPSHOT_MAX_CHUNKS: u64 = 4;

/// Whether `persist` replaces the snapshot with a fresh `save()` and drops the chunks. The
/// automerge-repo rule: keep load cost near that of a single compacted document.
pub(crate) fn should_compact(snapshot_len: u64, chunk_count: u64, chunk_bytes: u64) -> bool {
    chunks_outweigh(snapshot_len, chunk_bytes)
        || (snapshot_len < SMALL_SNAPSHOT && chunk_count > SMALL_SNAPSHOT_MAX_CHUNKS)
}

/// One transaction on the store, handed to the closures of [`Store::read`](super::Store::read)
/// (shared, on the reader connection) and [`Store::write`](super::Store::write) (exclusive,
/// IMMEDIATE, on the writer connection). Methods taking `&mut self` write.
pub struct StoreTx<'c> {
    tx: Transaction<'c>,
    actor: &'c ActorId,
}

/// What `docs` holds about one document, without its bytes.
struct DocRow {
    key: i64,
    heads: Vec<ChangeHash>,
}

impl<'c> StoreTx<'c> {
    pub(crate) fn new(tx: Transaction<'c>, actor: &'c ActorId) -> Self {
        Self { tx, actor }
    }

    pub(crate) fn commit(self) -> Result<()> {
        self.tx.commit()?;
        Ok(())
    }

    pub(crate) fn conn(&self) -> &rusqlite::Connection {
        &self.tx
    }

    // ----- documents -----

    /// Load a document: its snapshot plus every chunk appended since. `NotFound` if the store
    /// does not hold it; `InvalidDocument` if the stored bytes are corrupt, never a panic.
    pub fn load(&self, id: &DocId) -> Result<WorkOrderDoc> {
        let row: Option<(i64, Vec<u8>, Vec<u8>)> = self
            .tx
            .prepare_cached("SELECT doc, snapshot, heads FROM docs WHERE id = ?1")?
            .query_row([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let Some((key, mut bytes, heads)) = row else {
            return Err(not_found(id));
        };
        let mut stmt = self
            .tx
            .prepare_cached("SELECT bytes FROM chunks WHERE doc = ?1 ORDER BY chunk")?;
        let mut rows = stmt.query([key])?;
        while let Some(r) = rows.next()? {
            bytes.extend_from_slice(r.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?);
        }
        let heads = decode_heads(&heads)
            .ok_or_else(|| corrupt(id, "recorded heads are malformed".into()))?;
        decode_doc(id, &bytes, &heads, self.actor)
    }

    /// Whether the store holds `id`.
    pub fn contains(&self, id: &DocId) -> Result<bool> {
        Ok(self.key(id)?.is_some())
    }

    /// Every document the store holds, oldest first.
    pub fn doc_ids(&self) -> Result<Vec<DocId>> {
        let mut stmt = self.tx.prepare_cached("SELECT id FROM docs ORDER BY doc")?;
        let ids = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        ids.iter().map(|s| s.parse()).collect()
    }

    /// Persist `doc` after changes: append what the store lacks as one chunk (or store the full
    /// save if the document is new here), refresh its query-table and search rows, compact when
    /// the chunks outweigh the snapshot. `local` = the change was made on this device: the
    /// document is then marked pending upload (only if something new was written).
    ///
    /// The chunk is `doc.save_after(stored heads)`, not `save_incremental()`: that is correct
    /// whatever the caller did with `doc` before (a loaded document's incremental cursor starts
    /// empty, and any `save()` elsewhere would move it). If `doc` was loaded before another write
    /// stored changes it lacks, those are first merged into `doc`, so the caller's copy, the
    /// stored document and the query row all end up the same. That works when the changes stored
    /// meanwhile came from elsewhere (a sync); if they too were made on this device, the two
    /// copies reuse this install's sequence numbers and can never merge: `persist` then refuses
    /// with `NotAllowed` and writes nothing. Edit through [`Store::edit`](super::Store::edit), or
    /// load and persist in one `write`, and this cannot happen.
    pub fn persist(&mut self, doc: &mut WorkOrderDoc, local: bool) -> Result<()> {
        let id = doc.id()?;
        let key = match self.doc_row(&id)? {
            None => {
                let snapshot = doc.save();
                let heads = sorted(doc.heads());
                self.tx
                    .prepare_cached("INSERT INTO docs (id, snapshot, heads) VALUES (?1, ?2, ?3)")?
                    .execute(params![id.to_string(), snapshot, encode_heads(&heads)])?;
                let key = self.tx.last_insert_rowid();
                self.tx
                    .prepare_cached("INSERT INTO sync_state (doc, pending) VALUES (?1, ?2)")?
                    .execute(params![key, local])?;
                key
            }
            Some(row) => {
                if !doc.has_all(&row.heads) {
                    let mut stored = self.load(&id)?;
                    let missing = stored.save_after(&doc.heads());
                    // Fails if both copies hold edits by this install (same actor, same sequence
                    // numbers): those can never merge, and storing either would lose the other.
                    doc.apply_changes(&missing).map_err(|e| {
                        Error::NotAllowed(format!(
                            "document {id} was edited in the store after this copy was loaded, \
                             and the two edits cannot be merged ({e}); reload it and edit again \
                             (Store::edit does this in one transaction)"
                        ))
                    })?;
                }
                let chunk = doc.save_after(&row.heads);
                if !chunk.is_empty() {
                    let heads = sorted(doc.heads());
                    self.tx
                        .prepare_cached("INSERT INTO chunks (doc, bytes) VALUES (?1, ?2)")?
                        .execute(params![row.key, chunk])?;
                    self.tx
                        .prepare_cached("UPDATE docs SET heads = ?2 WHERE doc = ?1")?
                        .execute(params![row.key, encode_heads(&heads)])?;
                    self.compact_if_due(row.key, doc)?;
                    if local {
                        self.tx
                            .prepare_cached("UPDATE sync_state SET pending = 1 WHERE doc = ?1")?
                            .execute([row.key])?;
                    }
                }
                row.key
            }
        };
        query::write_row(&self.tx, key, doc)
    }

    fn compact_if_due(&mut self, key: i64, doc: &mut WorkOrderDoc) -> Result<()> {
        let (snapshot_len, chunk_count, chunk_bytes): (u64, u64, u64) = self
            .tx
            .prepare_cached(
                "SELECT length(d.snapshot), count(c.chunk), coalesce(sum(length(c.bytes)), 0)
                 FROM docs d LEFT JOIN chunks c ON c.doc = d.doc WHERE d.doc = ?1",
            )?
            .query_row([key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        if should_compact(snapshot_len, chunk_count, chunk_bytes) {
            let snapshot = doc.save();
            tracing::debug!(
                snapshot_len,
                chunk_count,
                chunk_bytes,
                new_len = snapshot.len(),
                "compacting stored document"
            );
            self.tx
                .prepare_cached("UPDATE docs SET snapshot = ?2 WHERE doc = ?1")?
                .execute(params![key, snapshot])?;
            self.tx
                .prepare_cached("DELETE FROM chunks WHERE doc = ?1")?
                .execute([key])?;
        }
        Ok(())
    }

    /// Remove a document and everything about it (chunks, query and search rows, sync and peer
    /// state). Refuses with `NotAllowed` if it is pending upload: a document with unacknowledged
    /// changes is never evicted. Evicting a document the store does not hold does nothing, so
    /// an interrupted eviction can simply be repeated.
    pub fn evict(&mut self, id: &DocId) -> Result<()> {
        let Some(key) = self.key(id)? else {
            return Ok(());
        };
        if self.is_pending(key)? {
            return Err(Error::NotAllowed(format!(
                "document {id} has local changes the server has not acknowledged; push them first"
            )));
        }
        // Foreign keys cascade to chunks, orders (whose trigger clears the search index),
        // sync_state and peer_state.
        self.tx
            .prepare_cached("DELETE FROM docs WHERE doc = ?1")?
            .execute([key])?;
        Ok(())
    }

    // ----- sync bookkeeping -----

    /// Documents with local changes the server has not yet acknowledged, oldest first.
    pub fn pending(&self) -> Result<Vec<DocId>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT d.id FROM sync_state s JOIN docs d ON d.doc = s.doc
             WHERE s.pending = 1 ORDER BY s.doc",
        )?;
        let ids = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        ids.iter().map(|s| s.parse()).collect()
    }

    /// Mark `id` as having (or no longer having) changes to upload. `NotFound` if absent.
    pub fn set_pending(&mut self, id: &DocId, pending: bool) -> Result<()> {
        let n = self
            .tx
            .prepare_cached(
                "UPDATE sync_state SET pending = ?2 WHERE doc = (SELECT doc FROM docs WHERE id = ?1)",
            )?
            .execute(params![id.to_string(), pending])?;
        if n == 0 {
            return Err(not_found(id));
        }
        Ok(())
    }

    /// The heads the server has acknowledged for `id`; empty if it never has (or the store does
    /// not hold `id`).
    pub fn server_heads(&self, id: &DocId) -> Result<Vec<ChangeHash>> {
        let blob: Option<Vec<u8>> = self
            .tx
            .prepare_cached(
                "SELECT s.server_heads FROM sync_state s JOIN docs d ON d.doc = s.doc
                 WHERE d.id = ?1",
            )?
            .query_row([id.to_string()], |r| r.get(0))
            .optional()?;
        match blob {
            None => Ok(Vec::new()),
            Some(b) => decode_heads(&b)
                .ok_or_else(|| corrupt(id, "recorded server heads are malformed".into())),
        }
    }

    /// Record the heads the server has acknowledged for `id` (stored sorted, 32 bytes each).
    /// `NotFound` if the store does not hold `id`.
    pub fn set_server_heads(&mut self, id: &DocId, heads: &[ChangeHash]) -> Result<()> {
        let mut heads = heads.to_vec();
        heads.sort();
        heads.dedup();
        let n = self
            .tx
            .prepare_cached(
                "UPDATE sync_state SET server_heads = ?2
                 WHERE doc = (SELECT doc FROM docs WHERE id = ?1)",
            )?
            .execute(params![id.to_string(), encode_heads(&heads)])?;
        if n == 0 {
            return Err(not_found(id));
        }
        Ok(())
    }

    /// The last server change sequence this device has seen (0 before the first sync).
    pub fn cursor(&self) -> Result<u64> {
        match self.meta(META_CURSOR)? {
            None => Ok(0),
            Some(b) => {
                let bytes: [u8; 8] = b
                    .as_slice()
                    .try_into()
                    .map_err(|_| Error::InvalidInput("stored sync cursor is malformed".into()))?;
                Ok(u64::from_be_bytes(bytes))
            }
        }
    }

    /// Record the last server change sequence seen.
    pub fn set_cursor(&mut self, c: u64) -> Result<()> {
        self.put_meta(META_CURSOR, &c.to_be_bytes())
    }

    /// A value the app or the protocol keeps in the store's key/value table.
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .tx
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?)
    }

    /// Set a key/value entry. Keys starting with `store.` belong to the store itself (the actor
    /// id, the cursor) and are refused with `NotAllowed`.
    /// The last hybrid-logical-clock timestamp this device issued or observed.
    pub fn hlc(&self) -> Result<crate::Hlc> {
        match self.meta(HLC_META)? {
            Some(b) => crate::Hlc::decode(std::str::from_utf8(&b).unwrap_or_default()),
            None => Ok(crate::Hlc::ZERO),
        }
    }

    /// Record `hlc` as the last timestamp issued or observed (never moves backwards).
    pub fn set_hlc(&mut self, hlc: crate::Hlc) -> Result<()> {
        let next = self.hlc()?.observe(hlc).max(hlc);
        self.put_meta(HLC_META, next.encode().as_bytes())
    }

    pub fn set_meta(&mut self, key: &str, v: &[u8]) -> Result<()> {
        if key.starts_with(RESERVED_META_PREFIX) {
            return Err(Error::NotAllowed(format!(
                "meta keys starting with {RESERVED_META_PREFIX:?} are reserved for the store"
            )));
        }
        self.put_meta(key, v)
    }

    fn put_meta(&mut self, key: &str, v: &[u8]) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![key, v])?;
        Ok(())
    }

    /// The encoded `automerge::sync::State` kept for `peer` and `id`, if any.
    pub fn peer_state(&self, peer: &str, id: &DocId) -> Result<Option<Vec<u8>>> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT p.state FROM peer_state p JOIN docs d ON d.doc = p.doc
                 WHERE p.peer = ?1 AND d.id = ?2",
            )?
            .query_row(params![peer, id.to_string()], |r| r.get(0))
            .optional()?)
    }

    /// Keep the encoded `automerge::sync::State` for `peer` and `id`. `NotFound` if the store
    /// does not hold `id` (persist the document first).
    pub fn set_peer_state(&mut self, peer: &str, id: &DocId, s: &[u8]) -> Result<()> {
        let key = self.key(id)?.ok_or_else(|| not_found(id))?;
        self.tx
            .prepare_cached(
                "INSERT INTO peer_state (peer, doc, state) VALUES (?1, ?2, ?3)
                 ON CONFLICT (peer, doc) DO UPDATE SET state = excluded.state",
            )?
            .execute(params![peer, key, s])?;
        Ok(())
    }

    // ----- maintenance -----

    /// Rebuild every query row from its document if this build would write them differently
    /// (a field added to `OrderSummary`, a changed derivation): probes one document and compares.
    /// Returns how many rows were rebuilt. Corrupt documents keep their old row.
    pub(crate) fn reindex_if_stale(&mut self) -> Result<usize> {
        let ids = self.doc_ids()?;
        let mut probe = None;
        for id in &ids {
            if let Ok(doc) = self.load(id) {
                probe = Some((*id, doc));
                break;
            }
        }
        let Some((id, doc)) = probe else {
            return Ok(0);
        };
        let key = self.key(&id)?.ok_or_else(|| not_found(&id))?;
        if query::row_is_current(&self.tx, key, &doc)? {
            return Ok(0);
        }
        tracing::info!(docs = ids.len(), "query rows are stale; rebuilding them");
        let mut rebuilt = 0;
        for id in &ids {
            match self.load(id) {
                Ok(doc) => {
                    let key = self.key(id)?.ok_or_else(|| not_found(id))?;
                    query::write_row(&self.tx, key, &doc)?;
                    rebuilt += 1;
                }
                Err(e) => tracing::warn!(doc = %id, error = %e, "cannot reindex a stored document"),
            }
        }
        Ok(rebuilt)
    }

    // ----- helpers -----

    fn key(&self, id: &DocId) -> Result<Option<i64>> {
        Ok(self
            .tx
            .prepare_cached("SELECT doc FROM docs WHERE id = ?1")?
            .query_row([id.to_string()], |r| r.get(0))
            .optional()?)
    }

    /// The document's current heads as recorded, without loading it (`None`: not stored).
    pub fn heads(&self, id: &DocId) -> Result<Option<Vec<ChangeHash>>> {
        Ok(self.doc_row(id)?.map(|row| row.heads))
    }

    fn doc_row(&self, id: &DocId) -> Result<Option<DocRow>> {
        let row: Option<(i64, Vec<u8>)> = self
            .tx
            .prepare_cached("SELECT doc, heads FROM docs WHERE id = ?1")?
            .query_row([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        row.map(|(key, heads)| {
            let heads = decode_heads(&heads)
                .ok_or_else(|| corrupt(id, "recorded heads are malformed".into()))?;
            Ok(DocRow { key, heads })
        })
        .transpose()
    }

    fn is_pending(&self, key: i64) -> Result<bool> {
        Ok(self
            .tx
            .prepare_cached("SELECT pending FROM sync_state WHERE doc = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?
            .unwrap_or(false))
    }
}

/// Load stored bytes as a work order, turning every failure (a panic inside Automerge included,
/// where panics unwind) into `InvalidDocument`, and checking that the bytes are the document they
/// claim to be and reach the heads recorded for it (a lost chunk would otherwise load silently:
/// Automerge queues changes whose dependencies are missing).
fn decode_doc(
    id: &DocId,
    bytes: &[u8],
    heads: &[ChangeHash],
    actor: &ActorId,
) -> Result<WorkOrderDoc> {
    let mut doc = match catch_unwind(AssertUnwindSafe(|| WorkOrderDoc::load(bytes, actor))) {
        Ok(Ok(doc)) => doc,
        Ok(Err(e)) => return Err(corrupt(id, e.to_string())),
        Err(_) => return Err(corrupt(id, "automerge panicked while loading it".into())),
    };
    match doc.id() {
        Ok(found) if found == *id => {}
        _ => return Err(corrupt(id, "its bytes hold another document".into())),
    }
    if sorted(doc.heads()) != heads {
        return Err(corrupt(
            id,
            "its stored changes do not reach the recorded heads".into(),
        ));
    }
    Ok(doc)
}

fn corrupt(id: &DocId, why: String) -> Error {
    Error::InvalidDocument(format!("stored document {id} is corrupt: {why}"))
}

fn not_found(id: &DocId) -> Error {
    Error::NotFound(format!("document {id}"))
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort();
    heads
}

/// Heads as stored: 32 bytes each, concatenated.
pub(crate) fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

/// The inverse of [`encode_heads`]; `None` if the length is not a multiple of 32.
pub(crate) fn decode_heads(bytes: &[u8]) -> Option<Vec<ChangeHash>> {
    if !bytes.len().is_multiple_of(32) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(32)
            .map(|c| ChangeHash(c.try_into().expect("chunks_exact yields 32 bytes")))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{create, new_order, office};
    use crate::workorder::Priority;

    #[test]
    fn no_single_damaged_byte_loads_or_panics() {
        let actor = ActorId::random();
        let new = new_order("WO-1");
        let mut doc = create(&new);
        let mut bytes = doc.save();
        doc.set_priority(&office(), Priority::Urgent).unwrap();
        bytes.extend(doc.save_incremental());
        let heads = sorted(doc.heads());
        assert!(decode_doc(&new.id, &bytes, &heads, &actor).is_ok());

        for i in 0..bytes.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut damaged = bytes.clone();
                damaged[i] ^= flip;
                match decode_doc(&new.id, &damaged, &heads, &actor) {
                    Err(Error::InvalidDocument(msg)) => {
                        assert!(!msg.contains("panicked"), "byte {i} ^ {flip:#x}: {msg}")
                    }
                    Err(e) => panic!("byte {i} ^ {flip:#x}: unexpected error kind: {e}"),
                    Ok(_) => panic!("byte {i} ^ {flip:#x}: damaged bytes loaded"),
                }
            }
        }
        for len in 0..bytes.len() {
            assert!(
                decode_doc(&new.id, &bytes[..len], &heads, &actor).is_err(),
                "cut at {len}"
            );
        }
    }

    #[test]
    fn heads_encode_as_32_bytes_each_and_reject_odd_lengths() {
        let mut doc = create(&new_order("WO-1"));
        let heads = doc.heads();
        let encoded = encode_heads(&heads);
        assert_eq!(encoded.len(), 32 * heads.len());
        assert_eq!(decode_heads(&encoded), Some(heads));
        assert_eq!(decode_heads(&[]), Some(vec![]));
        assert_eq!(decode_heads(&[0; 31]), None);
    }
}
