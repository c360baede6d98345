//! Photos and the customer's signature: processed (see `photos.rs`), stored content-addressed
//! on the phone, referenced from the report, uploaded by `sync()` in their own lane.

use crate::blobs::BlobKind;
use crate::client::{FieldClient, parse_order};
use crate::error::{ApiError, Result, guard};
use crate::field::visit_for_media;
use crate::photos;
use crate::records::{PhotoResult, SignatureResult};
use reqwest::Method;
use sync_core::ContentHash;

#[uniffi::export]
impl FieldClient {
    /// Add a photo to the current visit's report. `image` is what the camera produced (JPEG or
    /// PNG); it is checked, downsized, turned upright, stripped of its metadata, stored on the
    /// phone and queued for upload. Takes a few hundred milliseconds for a 12 MP photo: call it
    /// off the UI thread.
    pub fn add_photo(
        &self,
        order_id: String,
        image: Vec<u8>,
        caption: String,
    ) -> Result<PhotoResult> {
        guard(|| {
            let id = parse_order(&order_id)?;
            let user = self.user()?;
            // Fail fast, before the expensive part, if there is nothing to attach to.
            let doc = self.local()?.store.load(&id)?;
            crate::field::require_visit(&doc, user)?;
            drop(doc);

            let settings = self.config.photo_settings();
            let processed = photos::process_photo(&image, &settings)?;
            let local = self.local()?;
            let (hash, created) = local.blobs.put(
                &processed.bytes,
                processed.content_type,
                BlobKind::Photo,
                &id.to_string(),
                self.now(),
            )?;
            drop(local);
            let content = ContentHash::from_hex(&hash)?;
            let location = processed.location;
            let edited = self.edit(&order_id, |doc, ctx, _| {
                let visit = visit_for_media(doc, ctx)?;
                let photo = doc.add_photo(ctx, &visit, content, caption.trim())?;
                if let Some(p) = location {
                    // Until the document has a typed field for it, the position is an event of
                    // the order: kept, synced, visible to the office.
                    doc.record_event(
                        ctx,
                        "photo_location",
                        &format!("{hash} {:.6},{:.6}", p.lat, p.lon),
                    )?;
                }
                Ok(photo)
            });
            let photo = match edited {
                Ok(p) => p,
                Err(e) => {
                    if created {
                        let _ = self.local().and_then(|l| l.blobs.forget(&hash));
                    }
                    return Err(e);
                }
            };
            Ok(PhotoResult {
                photo_id: photo.to_string(),
                hash,
                width: processed.width,
                height: processed.height,
                bytes: processed.bytes.len() as u64,
                original_bytes: image.len() as u64,
                location,
            })
        })
    }

    /// Record the customer's signature on the current visit: `image` from the app's drawing pad
    /// (PNG, transparent background fine), `signer_name` as the customer gave it. A visit is
    /// signed once. The signature uploads before any photo.
    pub fn sign(
        &self,
        order_id: String,
        image: Vec<u8>,
        signer_name: String,
    ) -> Result<SignatureResult> {
        guard(|| {
            let id = parse_order(&order_id)?;
            let user = self.user()?;
            if signer_name.trim().is_empty() {
                return Err(ApiError::input("the signer's name is required"));
            }
            let doc = self.local()?.store.load(&id)?;
            let visit = crate::field::require_visit(&doc, user)?;
            if doc.read_visit(&visit)?.report.signature.is_some() {
                return Err(ApiError::state("this visit is already signed"));
            }
            drop(doc);

            let processed = photos::process_signature(&image, &self.config.photo_settings())?;
            let local = self.local()?;
            let (hash, created) = local.blobs.put(
                &processed.bytes,
                processed.content_type,
                BlobKind::Signature,
                &id.to_string(),
                self.now(),
            )?;
            drop(local);
            let content = ContentHash::from_hex(&hash)?;
            let edited = self.edit(&order_id, |doc, ctx, _| {
                let visit = visit_for_media(doc, ctx)?;
                Ok(doc.sign(ctx, &visit, content, &signer_name)?)
            });
            if let Err(e) = edited {
                if created {
                    let _ = self.local().and_then(|l| l.blobs.forget(&hash));
                }
                return Err(e);
            }
            Ok(SignatureResult {
                hash,
                width: processed.width,
                height: processed.height,
                bytes: processed.bytes.len() as u64,
            })
        })
    }

    /// The bytes of a photo or signature on this device (`None` if it is not here: see
    /// `download_blob`).
    pub fn blob(&self, hash: String) -> Result<Option<Vec<u8>>> {
        guard(|| {
            check_hash(&hash)?;
            self.local()?.blobs.read(&hash)
        })
    }

    /// The file of a photo or signature on this device, for image views that load from a path
    /// (read-only: do not move or change it).
    pub fn blob_path(&self, hash: String) -> Result<Option<String>> {
        guard(|| {
            check_hash(&hash)?;
            let p = self.local()?.blobs.object_path(&hash);
            Ok(p.is_file().then(|| p.to_string_lossy().into_owned()))
        })
    }

    /// A photo or signature of `order_id` (taken on another device, say): from this device if it
    /// is here, else from the server (network), then kept here.
    pub fn download_blob(&self, order_id: String, hash: String) -> Result<Vec<u8>> {
        guard(|| {
            check_hash(&hash)?;
            let id = parse_order(&order_id)?;
            if let Some(bytes) = self.local()?.blobs.read(&hash)? {
                return Ok(bytes);
            }
            let creds = self.require_creds()?;
            let fetched = self.http.bytes(
                Method::GET,
                &format!("/api/v1/work-orders/{id}/blobs/{hash}"),
                &creds.token,
                None,
                None,
            );
            let (bytes, content_type) = match fetched {
                Ok(r) => r,
                Err(f) => {
                    let e = ApiError::from(f);
                    if e == ApiError::Revoked {
                        self.revoke();
                    }
                    return Err(e);
                }
            };
            self.local()?.blobs.put_downloaded(
                &hash,
                &bytes,
                content_type
                    .as_deref()
                    .unwrap_or("application/octet-stream"),
                &id.to_string(),
                self.now(),
            )?;
            Ok(bytes)
        })
    }
}

fn check_hash(hash: &str) -> Result<()> {
    if hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(ApiError::input(
            "a blob hash is 64 lower-case hex characters",
        ))
    }
}
