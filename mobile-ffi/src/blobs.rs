//! Photos and signatures on the phone: content-addressed files plus a small index of what still
//! has to be uploaded.
//!
//! ```text
//! <database_path>.blobs/
//!   index.sqlite              the index (its own SQLite file: the device store's schema belongs
//!                             to sync-core)
//!   objects/ab/ab12…ef        one file per blob, named by its SHA-256
//! ```
//!
//! A blob is written before the document references it (file, fsync, rename; then the index
//! row; then the edit), so a crash at any instant leaves at worst an unreferenced blob, never a
//! reference to a missing one. The upload offset is not kept here: the server is asked for it
//! before each upload, so an upload cut at any byte resumes exactly, even after a reinstall of
//! the index.

use crate::error::{ApiError, Result};
use crate::records::BlobLookup;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Version of the index schema, in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE blobs (
    hash            TEXT PRIMARY KEY NOT NULL,   -- SHA-256, lower-case hex
    kind            TEXT NOT NULL CHECK (kind IN ('signature', 'photo')),
    content_type    TEXT NOT NULL,
    size            INTEGER NOT NULL,
    order_id        TEXT NOT NULL,               -- the order that first referenced it
    created_at_ms   INTEGER NOT NULL,
    -- pending: to upload; uploaded: the server has it; failed: the server refused it for good
    -- (not an image, hash mismatch three times); downloaded: fetched from the server
    state           TEXT NOT NULL CHECK (state IN ('pending', 'uploaded', 'failed', 'downloaded')),
    attempts        INTEGER NOT NULL DEFAULT 0,  -- failed upload attempts (backoff)
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT
) STRICT;
-- The upload lane: signatures first, then photos, oldest first.
CREATE INDEX blobs_pending ON blobs (kind = 'photo', created_at_ms) WHERE state = 'pending';
";

/// What a blob is (signatures upload first: a signed report without its signature is useless).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobKind {
    Signature,
    Photo,
}

impl BlobKind {
    fn as_str(self) -> &'static str {
        match self {
            BlobKind::Signature => "signature",
            BlobKind::Photo => "photo",
        }
    }
}

/// A blob waiting for upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingBlob {
    pub hash: String,
    pub kind: BlobKind,
    pub content_type: String,
    pub size: u64,
    pub order_id: String,
    pub attempts: u32,
}

/// The phone's blob store.
#[derive(Debug)]
pub struct LocalBlobs {
    dir: PathBuf,
    conn: Mutex<Connection>,
}

impl LocalBlobs {
    /// Open (or create) the store in `dir`.
    pub fn open(dir: &Path) -> Result<LocalBlobs> {
        fs::create_dir_all(dir.join("objects"))?;
        let mut conn = Connection::open(dir.join("index.sqlite"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let _: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        match version {
            0 => {
                let tx = conn.transaction()?;
                tx.execute_batch(SCHEMA)?;
                tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
                tx.commit()?;
            }
            SCHEMA_VERSION => {}
            newer => {
                return Err(ApiError::storage(format!(
                    "the blob index has schema version {newer}, newer than this app knows \
                     ({SCHEMA_VERSION}); update the app"
                )));
            }
        }
        Ok(LocalBlobs {
            dir: dir.to_owned(),
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic mid-statement leaves no open transaction (every write is one statement or a
        // transaction that rolls back on drop): the connection is fine to reuse.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Where the blob `hash` lives (whether or not it exists).
    pub fn object_path(&self, hash: &str) -> PathBuf {
        let shard = hash.get(..2).unwrap_or("xx");
        self.dir.join("objects").join(shard).join(hash)
    }

    /// Store `bytes` (content-addressed) and queue it for upload. Returns its hash and whether
    /// this call created the index entry (so a failed edit can take it back).
    pub fn put(
        &self,
        bytes: &[u8],
        content_type: &str,
        kind: BlobKind,
        order_id: &str,
        now_ms: i64,
    ) -> Result<(String, bool)> {
        let hash = hex::encode(Sha256::digest(bytes));
        self.write_object(&hash, bytes)?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let existing: Option<String> = tx
            .query_row("SELECT state FROM blobs WHERE hash = ?1", [&hash], |r| {
                r.get(0)
            })
            .optional()?;
        match existing.as_deref() {
            None => {
                tx.execute(
                    "INSERT INTO blobs (hash, kind, content_type, size, order_id, created_at_ms,
                         state)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending')",
                    params![
                        hash,
                        kind.as_str(),
                        content_type,
                        bytes.len() as i64,
                        order_id,
                        now_ms
                    ],
                )?;
            }
            // Refused for good before: these are fresh bytes of the same content, try again.
            Some("failed") => {
                tx.execute(
                    "UPDATE blobs SET state = 'pending', attempts = 0, next_attempt_ms = 0
                     WHERE hash = ?1",
                    [&hash],
                )?;
            }
            // Already queued, uploaded or downloaded: nothing to do.
            Some(_) => {}
        }
        tx.commit()?;
        Ok((hash, existing.is_none()))
    }

    /// Take back an entry `put` created when the edit that was to reference it failed.
    pub fn forget(&self, hash: &str) -> Result<()> {
        self.conn()
            .execute("DELETE FROM blobs WHERE hash = ?1", [hash])?;
        let _ = fs::remove_file(self.object_path(hash));
        Ok(())
    }

    /// Keep a blob downloaded from the server (already there: nothing to upload).
    pub fn put_downloaded(
        &self,
        hash: &str,
        bytes: &[u8],
        content_type: &str,
        order_id: &str,
        now_ms: i64,
    ) -> Result<()> {
        if hex::encode(Sha256::digest(bytes)) != hash {
            return Err(ApiError::server(
                "the server sent a blob that does not match its hash",
            ));
        }
        self.write_object(hash, bytes)?;
        self.conn().execute(
            "INSERT INTO blobs (hash, kind, content_type, size, order_id, created_at_ms, state)
             VALUES (?1, 'photo', ?2, ?3, ?4, ?5, 'downloaded') ON CONFLICT (hash) DO NOTHING",
            params![hash, content_type, bytes.len() as i64, order_id, now_ms],
        )?;
        Ok(())
    }

    /// Write the object file atomically: temp file, fsync, rename, fsync the directory. An
    /// existing object with the right size is kept (same hash, same bytes).
    fn write_object(&self, hash: &str, bytes: &[u8]) -> Result<()> {
        let path = self.object_path(hash);
        if fs::metadata(&path).is_ok_and(|m| m.len() == bytes.len() as u64) {
            return Ok(());
        }
        let dir = path.parent().expect("object paths have a parent");
        fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".{hash}.{}.tmp", uuid::Uuid::new_v4().simple()));
        let result = (|| -> std::io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            // The rename is durable once the directory is.
            fs::File::open(dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        Ok(result?)
    }

    /// The bytes of blob `hash`, if it is on this device and intact.
    pub fn read(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        match fs::read(self.object_path(hash)) {
            Ok(bytes) => {
                if hex::encode(Sha256::digest(&bytes)) == hash {
                    Ok(Some(bytes))
                } else {
                    tracing::warn!(hash, "a stored blob is damaged");
                    Err(ApiError::storage(format!("stored blob {hash} is damaged")))
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Blobs due for upload now: signatures first, then photos, oldest first.
    pub fn due(&self, now_ms: i64) -> Result<Vec<PendingBlob>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT hash, kind, content_type, size, order_id, attempts FROM blobs
             WHERE state = 'pending' AND next_attempt_ms <= ?1
             ORDER BY kind = 'photo', created_at_ms, hash",
        )?;
        let rows = stmt
            .query_map([now_ms], |r| {
                Ok(PendingBlob {
                    hash: r.get(0)?,
                    kind: if r.get::<_, String>(1)? == "signature" {
                        BlobKind::Signature
                    } else {
                        BlobKind::Photo
                    },
                    content_type: r.get(2)?,
                    size: r.get::<_, i64>(3)?.max(0) as u64,
                    order_id: r.get(4)?,
                    attempts: r.get::<_, i64>(5)?.clamp(0, i64::from(u32::MAX)) as u32,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// How many blobs still wait for upload (due or backing off).
    pub fn pending_count(&self) -> Result<u32> {
        let n: i64 = self.conn().query_row(
            "SELECT count(*) FROM blobs WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?;
        Ok(n.clamp(0, i64::from(u32::MAX)) as u32)
    }

    pub fn mark_uploaded(&self, hash: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE blobs SET state = 'uploaded', last_error = NULL WHERE hash = ?1",
            [hash],
        )?;
        Ok(())
    }

    /// Record a failed attempt and back off: 30 s, 1 min, 2 min ... at most an hour.
    pub fn mark_retry(&self, hash: &str, error: &str, now_ms: i64) -> Result<u32> {
        let attempts: i64 = self.conn().query_row(
            "UPDATE blobs SET attempts = attempts + 1, last_error = ?2 WHERE hash = ?1
             RETURNING attempts",
            params![hash, error],
            |r| r.get(0),
        )?;
        let delay_ms = backoff_ms(attempts.clamp(0, 64) as u32);
        self.conn().execute(
            "UPDATE blobs SET next_attempt_ms = ?2 WHERE hash = ?1",
            params![hash, now_ms.saturating_add(delay_ms)],
        )?;
        Ok(attempts.clamp(0, i64::from(u32::MAX)) as u32)
    }

    /// The server refused the blob for good: stop trying (it stays on the device).
    pub fn mark_failed(&self, hash: &str, error: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE blobs SET state = 'failed', last_error = ?2 WHERE hash = ?1",
            params![hash, error],
        )?;
        Ok(())
    }

    /// Make every pending blob due now (the app asked for an upload right away).
    pub fn retry_now(&self) -> Result<()> {
        self.conn().execute(
            "UPDATE blobs SET next_attempt_ms = 0 WHERE state = 'pending'",
            [],
        )?;
        Ok(())
    }

    /// Upload state of one blob: (on this device, the server has it).
    pub fn upload_state(&self, hash: &str) -> Result<(bool, bool)> {
        let state: Option<String> = self
            .conn()
            .query_row("SELECT state FROM blobs WHERE hash = ?1", [hash], |r| {
                r.get(0)
            })
            .optional()?;
        let local = self.object_path(hash).is_file();
        Ok((
            local,
            matches!(state.as_deref(), Some("uploaded" | "downloaded")),
        ))
    }
}

impl BlobLookup for LocalBlobs {
    fn state(&self, hash: &str) -> (bool, bool) {
        self.upload_state(hash).unwrap_or((false, false))
    }
}

/// 30 s doubled per failed attempt, at most an hour.
pub fn backoff_ms(attempts: u32) -> i64 {
    let exp = attempts.saturating_sub(1).min(7);
    (30_000i64 << exp).min(3_600_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_content_addressed_and_queued_signatures_first() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBlobs::open(dir.path()).unwrap();
        let (p1, new1) = b
            .put(b"photo one", "image/jpeg", BlobKind::Photo, "o1", 10)
            .unwrap();
        let (s1, _) = b
            .put(b"signature", "image/png", BlobKind::Signature, "o1", 20)
            .unwrap();
        let (p1_again, new_again) = b
            .put(b"photo one", "image/jpeg", BlobKind::Photo, "o2", 30)
            .unwrap();
        assert!(new1 && !new_again);
        assert_eq!(p1, p1_again);
        assert_eq!(p1, hex::encode(Sha256::digest(b"photo one")));
        let due: Vec<String> = b.due(100).unwrap().into_iter().map(|p| p.hash).collect();
        assert_eq!(due, [s1.clone(), p1.clone()]);
        assert_eq!(b.read(&p1).unwrap().unwrap(), b"photo one");

        b.mark_retry(&s1, "server busy", 100).unwrap();
        let due: Vec<String> = b.due(100).unwrap().into_iter().map(|p| p.hash).collect();
        assert_eq!(
            due,
            std::slice::from_ref(&p1),
            "a failing blob backs off, the others go on"
        );
        b.mark_uploaded(&p1).unwrap();
        assert_eq!(b.pending_count().unwrap(), 1);
        assert_eq!(b.upload_state(&p1).unwrap(), (true, true));
        b.retry_now().unwrap();
        assert_eq!(b.due(100).unwrap().len(), 1);
    }

    #[test]
    fn a_damaged_object_is_an_error_not_wrong_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBlobs::open(dir.path()).unwrap();
        let (h, _) = b
            .put(b"abc", "image/jpeg", BlobKind::Photo, "o", 1)
            .unwrap();
        fs::write(b.object_path(&h), b"abd").unwrap();
        assert!(b.read(&h).is_err());
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff_ms(1), 30_000);
        assert_eq!(backoff_ms(2), 60_000);
        assert_eq!(backoff_ms(30), 3_600_000);
    }
}
