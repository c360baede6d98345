//! Photos and signatures: content-addressed blobs uploaded by phones in resumable chunks.
//!
//! ```text
//! POST  /api/v1/blobs/{hash}/upload          {size, content_type} -> {offset, size, complete}
//! PATCH /api/v1/blobs/{hash}/upload?offset=N  bytes              -> {offset, size, complete}
//! GET   /api/v1/work-orders/{id}/blobs/{hash}[/thumbnail]
//! ```
//!
//! - **Resumable**: the upload row holds how many bytes the server has (`received`); a client
//!   asks (POST, idempotent) and appends from there. An append at another offset is 409
//!   `offset_mismatch`, so a resent chunk is never stored twice; bytes that reached the disk but
//!   were never counted are overwritten by the next append.
//! - **Content-addressed and verified**: when the last byte arrives, the SHA-256 of the whole
//!   is checked against the hash in the path; a mismatch discards the upload (422
//!   `hash_mismatch`). The bytes are then decoded as an image, with limits (422 `invalid_image`
//!   otherwise), a thumbnail is made, and both are stored.
//! - **Idempotent**: uploading a blob the organisation already has is complete at once.
//! - **Per organisation**: keys start with the organisation id, so "already have it" says
//!   nothing about other organisations' photos.
//! - **Served by reference**: a blob is served only through a work order the caller may read
//!   whose document references it (a photo or signature of one of its visits).
//! - **Orphans**: uploads idle for longer than the grace period are removed, with their parts
//!   (a sweep runs at most every few minutes, on the next upload request).

pub mod images;
pub mod store;

use crate::db::Db;
use crate::error::{AppError, Error, Result};
use crate::now_ms;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};
pub use store::{BlobStore, FsBlobStore};
use sync_core::{OrgId, UserId};
use tokio::sync::Semaphore;

/// Limits and timings of the blob service.
#[derive(Clone, Debug)]
pub struct BlobSettings {
    /// Largest blob accepted (a phone sends ~0.3 MB photos; a full-resolution one is ~10 MB).
    pub max_blob_bytes: u64,
    /// Largest chunk per append request.
    pub max_chunk_bytes: usize,
    /// Images with more pixels are refused before decoding (decompression bombs).
    pub max_pixels: u64,
    /// Long edge of the console's thumbnails.
    pub thumb_edge: u32,
    /// An upload idle for this long is an orphan.
    pub upload_grace: Duration,
    /// How often at most the orphan sweep runs.
    pub sweep_every: Duration,
}

impl Default for BlobSettings {
    fn default() -> Self {
        BlobSettings {
            max_blob_bytes: 32 << 20,
            max_chunk_bytes: 8 << 20,
            max_pixels: 50_000_000,
            thumb_edge: 320,
            upload_grace: Duration::from_secs(72 * 3600),
            sweep_every: Duration::from_secs(600),
        }
    }
}

/// The blob service: storage, settings, and the bookkeeping of the orphan sweep.
#[derive(Debug)]
pub struct Blobs {
    store: Arc<dyn BlobStore>,
    pub settings: BlobSettings,
    last_sweep_ms: AtomicI64,
    /// Decoding a large image takes memory and a core: a few at a time.
    decode_permits: Semaphore,
}

/// What the server has of an upload.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct UploadState {
    /// Bytes received so far: append from here.
    pub offset: u64,
    pub size: u64,
    /// The blob is stored (verified and decoded).
    pub complete: bool,
}

/// A stored blob's bytes and type.
#[derive(Clone, Debug)]
pub struct Blob {
    pub bytes: Vec<u8>,
    pub content_type: String,
}

/// The content types a phone may upload.
pub const CONTENT_TYPES: [&str; 2] = ["image/jpeg", "image/png"];

impl Blobs {
    pub fn new(store: Arc<dyn BlobStore>, settings: BlobSettings) -> Blobs {
        let permits = std::thread::available_parallelism().map_or(2, |n| n.get());
        Blobs {
            store,
            settings,
            last_sweep_ms: AtomicI64::new(0),
            decode_permits: Semaphore::new(permits),
        }
    }

    /// Blobs under `dir` on the local file system.
    pub fn in_dir(dir: impl Into<std::path::PathBuf>) -> Blobs {
        Blobs::new(
            Arc::new(FsBlobStore::new(dir.into())),
            BlobSettings::default(),
        )
    }

    /// Run blocking storage work off the async threads.
    async fn io<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn BlobStore) -> std::io::Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?
            .map_err(Error::Io)
    }

    /// Start or resume an upload. Idempotent: the answer says where to go on from.
    pub async fn start(
        &self,
        db: &Db,
        org: OrgId,
        user: UserId,
        hash: &str,
        size: u64,
        content_type: &str,
    ) -> Result<UploadState, AppError> {
        if size == 0 || size > self.settings.max_blob_bytes {
            return Err(AppError::Json {
                status: axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                code: "payload_too_large",
                message: format!("a blob must be 1 to {} bytes", self.settings.max_blob_bytes),
            });
        }
        if !CONTENT_TYPES.contains(&content_type) {
            return Err(AppError::Invalid(format!(
                "content_type must be one of {}",
                CONTENT_TYPES.join(", ")
            )));
        }
        self.sweep_if_due(db).await;
        let org_s = org.to_string();
        if let Some(size) = stored_size(db, &org_s, hash).await? {
            return Ok(UploadState {
                offset: size,
                size,
                complete: true,
            });
        }
        let now = now_ms();
        sqlx::query(
            "INSERT INTO blob_uploads (org_id, hash, size, content_type, received, created_by, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, 0, $5, $6, $6) \
             ON CONFLICT (org_id, hash) DO NOTHING",
        )
        .bind(&org_s)
        .bind(hash)
        .bind(size as i64)
        .bind(content_type)
        .bind(user.to_string())
        .bind(now)
        .execute(db.pool())
        .await?;
        let (announced, received) = upload_row(db, &org_s, hash)
            .await?
            .ok_or_else(|| AppError::Conflict("the upload was just finished or removed".into()))?;
        if announced != size {
            return Err(AppError::Conflict(format!(
                "an upload of this blob with another size ({announced} bytes) is in progress"
            )));
        }
        Ok(UploadState {
            offset: received,
            size,
            complete: false,
        })
    }

    /// Append `bytes` at `offset`. The last chunk verifies the hash, decodes the image, makes
    /// the thumbnail and stores the blob.
    pub async fn append(
        &self,
        db: &Db,
        org: OrgId,
        user: UserId,
        hash: &str,
        offset: u64,
        bytes: Vec<u8>,
    ) -> Result<UploadState, AppError> {
        let org_s = org.to_string();
        let Some((size, received)) = upload_row(db, &org_s, hash).await? else {
            if let Some(size) = stored_size(db, &org_s, hash).await? {
                return Ok(UploadState {
                    offset: size,
                    size,
                    complete: true,
                });
            }
            return Err(AppError::NotFound("upload"));
        };
        if offset != received {
            return Err(offset_mismatch(received));
        }
        let end = offset + bytes.len() as u64;
        if end > size {
            return Err(AppError::Invalid(format!(
                "{end} bytes is more than the {size} announced"
            )));
        }
        if !bytes.is_empty() {
            let id = part_id(&org_s, hash);
            self.io(move |s| s.write_part(&id, offset, &bytes)).await?;
            let moved = sqlx::query(
                "UPDATE blob_uploads SET received = $3, updated_at = $4 \
                 WHERE org_id = $1 AND hash = $2 AND received = $5",
            )
            .bind(&org_s)
            .bind(hash)
            .bind(end as i64)
            .bind(now_ms())
            .bind(offset as i64)
            .execute(db.pool())
            .await?
            .rows_affected();
            if moved == 0 {
                // Another request moved the offset meanwhile (another node, another device).
                let now = upload_row(db, &org_s, hash).await?.map_or(0, |(_, r)| r);
                return Err(offset_mismatch(now));
            }
        }
        if end < size {
            return Ok(UploadState {
                offset: end,
                size,
                complete: false,
            });
        }
        self.finish(db, org, user, hash, size).await
    }

    /// The last byte is in: verify, decode, store, forget the upload.
    async fn finish(
        &self,
        db: &Db,
        org: OrgId,
        user: UserId,
        hash: &str,
        size: u64,
    ) -> Result<UploadState, AppError> {
        let org_s = org.to_string();
        let id = part_id(&org_s, hash);
        let part_key = id.clone();
        let bytes = self.io(move |s| s.read_part(&part_key)).await?;
        let actual = hex::encode(Sha256::digest(&bytes));
        if actual != hash || bytes.len() as u64 != size {
            self.discard(db, &org_s, hash).await?;
            tracing::warn!(%org, hash, "upload discarded: its bytes do not match its hash");
            return Err(AppError::Json {
                status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                code: "hash_mismatch",
                message: "the uploaded bytes do not match the hash; the upload was discarded, \
                          send it again from offset 0"
                    .into(),
            });
        }
        let checked = {
            let _permit = self
                .decode_permits
                .acquire()
                .await
                .map_err(|e| AppError::Internal(e.to_string()))?;
            let (max_pixels, edge) = (self.settings.max_pixels, self.settings.thumb_edge);
            let image = bytes.clone();
            tokio::task::spawn_blocking(move || images::check(&image, max_pixels, edge))
                .await
                .map_err(|e| AppError::Internal(e.to_string()))?
        };
        let checked = match checked {
            Ok(c) => c,
            Err(why) => {
                self.discard(db, &org_s, hash).await?;
                return Err(AppError::Json {
                    status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    code: "invalid_image",
                    message: format!("{why}; the upload was discarded"),
                });
            }
        };
        let (key, thumb_key) = (blob_key(&org_s, hash), thumb_key(&org_s, hash));
        let thumb = checked.thumbnail.clone();
        let thumb_len = thumb.len();
        self.io(move |s| {
            s.put(&key, &bytes)?;
            s.put(&thumb_key, &thumb)
        })
        .await?;
        let mut tx = db.begin().await?;
        sqlx::query(
            "INSERT INTO blobs (org_id, hash, size, content_type, width, height, thumb_size, \
             created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (org_id, hash) DO NOTHING",
        )
        .bind(&org_s)
        .bind(hash)
        .bind(size as i64)
        .bind(checked.content_type)
        .bind(i64::from(checked.width))
        .bind(i64::from(checked.height))
        .bind(thumb_len as i64)
        .bind(user.to_string())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM blob_uploads WHERE org_id = $1 AND hash = $2")
            .bind(&org_s)
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.io(move |s| s.delete_part(&id)).await?;
        tracing::info!(%org, hash, size, "blob stored");
        Ok(UploadState {
            offset: size,
            size,
            complete: true,
        })
    }

    async fn discard(&self, db: &Db, org: &str, hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM blob_uploads WHERE org_id = $1 AND hash = $2")
            .bind(org)
            .bind(hash)
            .execute(db.pool())
            .await?;
        let id = part_id(org, hash);
        self.io(move |s| s.delete_part(&id)).await
    }

    /// A stored blob of `org` (or its thumbnail).
    pub async fn get(
        &self,
        db: &Db,
        org: OrgId,
        hash: &str,
        thumbnail: bool,
    ) -> Result<Option<Blob>> {
        let org_s = org.to_string();
        let content_type: Option<String> =
            sqlx::query_scalar("SELECT content_type FROM blobs WHERE org_id = $1 AND hash = $2")
                .bind(&org_s)
                .bind(hash)
                .fetch_optional(db.pool())
                .await?;
        let Some(content_type) = content_type else {
            return Ok(None);
        };
        let (key, content_type) = if thumbnail {
            (thumb_key(&org_s, hash), "image/jpeg".to_owned())
        } else {
            (blob_key(&org_s, hash), content_type)
        };
        Ok(self.io(move |s| s.get(&key)).await?.map(|bytes| Blob {
            bytes,
            content_type,
        }))
    }

    /// Remove uploads idle for longer than the grace period, and stray parts. Returns how many
    /// uploads were removed.
    pub async fn sweep(&self, db: &Db, now_ms: i64) -> Result<usize> {
        let grace = self.settings.upload_grace.as_millis() as i64;
        let cutoff = now_ms - grace;
        let stale: Vec<(String, String)> = sqlx::query_as(
            "SELECT org_id, hash FROM blob_uploads WHERE updated_at < $1 ORDER BY updated_at",
        )
        .bind(cutoff)
        .fetch_all(db.pool())
        .await?;
        for (org, hash) in &stale {
            // Only if still idle (a client may have resumed it this instant).
            let removed = sqlx::query(
                "DELETE FROM blob_uploads WHERE org_id = $1 AND hash = $2 AND updated_at < $3",
            )
            .bind(org)
            .bind(hash)
            .bind(cutoff)
            .execute(db.pool())
            .await?
            .rows_affected();
            if removed > 0 {
                let id = part_id(org, hash);
                self.io(move |s| s.delete_part(&id)).await?;
            }
        }
        // Parts without a row (a crash between writing a part and recording it).
        let before = SystemTime::UNIX_EPOCH + Duration::from_millis(cutoff.max(0) as u64);
        let parts = self.io(move |s| s.stale_parts(before)).await?;
        for id in parts {
            let Some((org, hash)) = id.split_once('/') else {
                continue;
            };
            if upload_row(db, org, hash).await?.is_none() {
                self.io(move |s| s.delete_part(&id)).await?;
            }
        }
        if !stale.is_empty() {
            tracing::info!(uploads = stale.len(), "removed orphaned uploads");
        }
        Ok(stale.len())
    }

    /// Sweep if the last sweep is older than `sweep_every` (never fails the request).
    async fn sweep_if_due(&self, db: &Db) {
        let now = now_ms();
        let last = self.last_sweep_ms.load(Ordering::Relaxed);
        let every = self.settings.sweep_every.as_millis() as i64;
        if now - last < every
            || self
                .last_sweep_ms
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        if let Err(e) = self.sweep(db, now).await {
            tracing::warn!(error = %e, "orphaned upload sweep failed");
        }
    }
}

fn offset_mismatch(received: u64) -> AppError {
    AppError::Json {
        status: axum::http::StatusCode::CONFLICT,
        code: "offset_mismatch",
        message: format!("the server has {received} bytes of this upload; append from there"),
    }
}

async fn stored_size(db: &Db, org: &str, hash: &str) -> Result<Option<u64>> {
    let size: Option<i64> =
        sqlx::query_scalar("SELECT size FROM blobs WHERE org_id = $1 AND hash = $2")
            .bind(org)
            .bind(hash)
            .fetch_optional(db.pool())
            .await?;
    Ok(size.map(|s| s.max(0) as u64))
}

/// (announced size, received) of an upload in progress.
async fn upload_row(db: &Db, org: &str, hash: &str) -> Result<Option<(u64, u64)>> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT size, received FROM blob_uploads WHERE org_id = $1 AND hash = $2")
            .bind(org)
            .bind(hash)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(|(s, r)| (s.max(0) as u64, r.max(0) as u64)))
}

fn part_id(org: &str, hash: &str) -> String {
    format!("{org}/{hash}")
}

fn blob_key(org: &str, hash: &str) -> String {
    format!("{org}/{}/{hash}", &hash[..2])
}

fn thumb_key(org: &str, hash: &str) -> String {
    format!("{org}/{}/{hash}.thumb.jpg", &hash[..2])
}

/// A blob hash from a path: 64 hex characters, answered in lower case.
pub fn parse_hash(s: &str) -> Option<String> {
    (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_ascii_lowercase())
}

/// Whether the work order `doc` references blob `hash` (a photo or signature of any visit).
pub fn references(order: &sync_core::workorder::WorkOrder, hash: &str) -> bool {
    order.visits.iter().any(|v| {
        v.report.photos.iter().any(|p| p.hash.to_hex() == hash)
            || v.report
                .signature
                .as_ref()
                .is_some_and(|s| s.hash.to_hex() == hash)
    })
}
