//! `sync()`: one sync-core protocol exchange (documents both ways, reference data down), then
//! the blob lane (photos and signatures up, signatures first, in resumable chunks).
//!
//! Nothing here holds a store lock during network I/O: sync-core builds the request on the
//! reader connection, sends it with our transport, and applies the answer in one short write
//! transaction; the blob lane reads files and a small index. Other calls go on meanwhile.

use crate::blobs::{LocalBlobs, PendingBlob};
use crate::client::{FieldClient, Local, META_LAST_SYNC};
use crate::error::{ApiError, Result, guard};
use crate::http::Failure;
use crate::listener::{SyncPhase, SyncProgress};
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::PoisonError;
use std::time::Duration;
use sync_core::protocol::device;
use sync_core::protocol::wire::{AckError, Limits};

/// At most this many protocol rounds per sync (pages of a large first sync, retries of
/// documents the server asked to resend).
const MAX_ROUNDS: u32 = 50;
/// Hash mismatches (bytes damaged on the way) before a blob is given up.
const MAX_HASH_MISMATCHES: u32 = 3;

/// A conflict the server resolved on an order this device pushed (flagged for a dispatcher).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SyncConflict {
    pub order_id: String,
    /// The field concerned, e.g. `status`.
    pub field: String,
}

/// A change the server refused (it was reverted on the server and the revert came back).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct RefusedChange {
    pub order_id: String,
    pub field: String,
    pub reason: String,
}

/// An order the server would not take at all.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct RejectedOrder {
    pub order_id: String,
    /// `missing_base` (resent in full next sync), `malformed` (kept, stays pending) or
    /// `not_allowed` (kept on the phone, no longer sent).
    pub reason: String,
}

/// A photo or signature that did not upload.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct UploadFailure {
    pub hash: String,
    pub order_id: String,
    pub reason: String,
    /// It stays queued and is retried with backoff (else the server refused it for good).
    pub will_retry: bool,
}

/// What one `sync()` did.
#[derive(Clone, Debug, Default, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    /// Orders whose changes the server acknowledged.
    pub sent: Vec<String>,
    /// Orders received or updated from the server.
    pub received: Vec<String>,
    /// Orders removed from the phone (re-assigned or closed; nothing of them was pending).
    pub evicted: Vec<String>,
    pub conflicts: Vec<SyncConflict>,
    pub refused: Vec<RefusedChange>,
    pub rejected: Vec<RejectedOrder>,
    /// Orders still waiting for upload.
    pub pending_orders: u32,
    pub uploads_done: u32,
    /// Photos and signatures still waiting (failed ones back off, see `upload_failures`).
    pub uploads_pending: u32,
    /// Blob bytes sent in this sync (a resumed upload sends only what the server lacks).
    pub upload_bytes_sent: u64,
    pub upload_failures: Vec<UploadFailure>,
    /// Why the blob lane stopped early (no connection), if it did.
    pub upload_error: Option<String>,
    pub round_trips: u32,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub finished_at_ms: i64,
}

/// The server's answer about an upload.
#[derive(Clone, Copy, Debug, Deserialize)]
struct UploadState {
    offset: u64,
    complete: bool,
}

/// How one blob's upload ended, other than success.
enum Stop {
    /// No connection: stop the lane; everything stays queued.
    Network(String),
    Revoked,
    /// This blob failed; retry later (backoff), go on with the others.
    Retry(String),
    /// The server refused it for good.
    Refused(String),
}

#[uniffi::export]
impl FieldClient {
    /// Sync with the server: push local changes and pull the server's (one protocol exchange,
    /// paged if large), then upload pending photos and signatures. Blocks until done: call it
    /// from a background thread. Other calls keep working meanwhile; a second `sync()` waits for
    /// the first. Fails with `Network` when the documents could not be exchanged (nothing is
    /// lost: run it again), `Revoked` when the server revoked the device (the local data is
    /// wiped). A photo that fails does not fail the sync: see `upload_failures`.
    pub fn sync(&self) -> Result<SyncReport> {
        guard(|| {
            let _one = self
                .sync_lock
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let creds = self.require_creds()?;
            let local = self.local()?;
            let outcome = self.sync_with(&local, &creds.token);
            drop(local);
            if matches!(outcome, Err(ApiError::Revoked)) {
                self.revoke();
            }
            outcome
        })
    }

    /// Long poll: wait up to `timeout_ms` (at most 30 s) for the server to say that something in
    /// this device's scope changed since the last sync. `true`: sync now. A phone with signal
    /// keeps one running in a background loop, so new assignments show within a second.
    pub fn wait_for_changes(&self, timeout_ms: u32) -> Result<bool> {
        guard(|| {
            let creds = self.require_creds()?;
            let cursor = self.local()?.store.read(|tx| tx.cursor())?;
            let wait = u64::from(timeout_ms.min(30_000));
            let answer = self.http.bytes(
                Method::GET,
                &format!("/api/v1/sync/changes?cursor={cursor}&wait_ms={wait}"),
                &creds.token,
                None,
                Some(Duration::from_millis(wait + 15_000)),
            );
            match answer {
                Ok((body, _)) => {
                    let v: serde_json::Value = serde_json::from_slice(&body)
                        .map_err(|e| ApiError::server(format!("long poll answer: {e}")))?;
                    Ok(v["changed"].as_bool().unwrap_or(false))
                }
                Err(f) => {
                    let e = ApiError::from(f);
                    if e == ApiError::Revoked {
                        self.revoke();
                    }
                    Err(e)
                }
            }
        })
    }

    /// Make photos that are backing off after a failure due now (e.g. the user tapped "retry").
    pub fn retry_uploads_now(&self) -> Result<()> {
        guard(|| self.local()?.blobs.retry_now())
    }
}

impl FieldClient {
    fn progress(&self, p: SyncProgress) {
        if let Some(l) = self.listener() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| l.sync_progress(p)));
        }
    }

    fn sync_with(&self, local: &Local, token: &str) -> Result<SyncReport> {
        let mut report = SyncReport::default();
        let docs = self.sync_documents(local, token, &mut report);
        // No connection or no device: the blob lane would fail the same way.
        if let Err(ApiError::Network { .. } | ApiError::Revoked) = &docs {
            return docs.map(|_| report);
        }
        self.upload_blobs(&local.blobs, token, &mut report)?;
        report.uploads_pending = local.blobs.pending_count()?;
        report.finished_at_ms = self.now();
        if docs.is_ok() {
            let at = report.finished_at_ms;
            local
                .store
                .write(|tx| tx.set_meta(META_LAST_SYNC, &at.to_be_bytes()))?;
        }
        docs.map(|_| report)
    }

    fn sync_documents(&self, local: &Local, token: &str, report: &mut SyncReport) -> Result<()> {
        let mut failure: Option<ApiError> = None;
        let mut transport = |body: &[u8]| -> sync_core::Result<Vec<u8>> {
            match self
                .http
                .bytes(Method::POST, "/api/v1/sync", token, Some(body), None)
            {
                Ok((bytes, _)) => Ok(bytes),
                Err(f) => {
                    failure = Some(f.into());
                    Err(sync_core::Error::Protocol("the request failed".into()))
                }
            }
        };
        let mut on_progress = |p: device::Progress| {
            self.progress(SyncProgress {
                phase: SyncPhase::Documents,
                done: p.docs_done,
                total: p.docs_total,
                bytes_done: p.bytes_done,
                bytes_total: p.bytes_total,
            })
        };
        let result = device::sync(
            &local.store,
            &Limits::default(),
            MAX_ROUNDS,
            &mut transport,
            &mut on_progress,
        );
        let r = match (result, failure) {
            (Ok(r), _) => r,
            (Err(_), Some(e)) => return Err(e),
            (Err(e), None) => return Err(e.into()),
        };
        let ids = |v: &[sync_core::DocId]| v.iter().map(|d| d.to_string()).collect::<Vec<_>>();
        report.sent = ids(&r.sent);
        report.received = ids(&r.received);
        report.evicted = ids(&r.evicted);
        report.conflicts = r
            .conflicts
            .iter()
            .map(|(id, field)| SyncConflict {
                order_id: id.to_string(),
                field: field.clone(),
            })
            .collect();
        report.refused = r
            .refusals
            .iter()
            .map(|(id, refusal)| RefusedChange {
                order_id: id.to_string(),
                field: refusal.field.clone(),
                reason: refusal.reason.clone(),
            })
            .collect();
        report.rejected = r
            .rejected
            .iter()
            .map(|(id, e)| RejectedOrder {
                order_id: id.to_string(),
                reason: match e {
                    AckError::MissingBase => "missing_base",
                    AckError::Malformed => "malformed",
                    AckError::NotAllowed => "not_allowed",
                }
                .into(),
            })
            .collect();
        report.pending_orders = u32::try_from(r.pending).unwrap_or(u32::MAX);
        report.round_trips = r.round_trips;
        report.bytes_up = r.bytes_up;
        report.bytes_down = r.bytes_down;
        let changed: BTreeSet<String> = report
            .sent
            .iter()
            .chain(&report.received)
            .chain(&report.evicted)
            .cloned()
            .collect();
        self.notify_changed(changed.into_iter().collect());
        Ok(())
    }

    /// Upload every blob that is due, signatures first. A blob that fails backs off and the
    /// lane goes on; no connection stops the lane (everything stays queued).
    fn upload_blobs(&self, blobs: &LocalBlobs, token: &str, report: &mut SyncReport) -> Result<()> {
        let due = blobs.due(self.now())?;
        let total = due.len() as u64;
        let bytes_total: u64 = due.iter().map(|b| b.size).sum();
        let mut bytes_done = 0u64;
        for (i, blob) in due.iter().enumerate() {
            self.progress(SyncProgress {
                phase: SyncPhase::Uploads,
                done: i as u64,
                total,
                bytes_done,
                bytes_total,
            });
            let mut sent = 0u64;
            let outcome = self.upload_one(blobs, token, blob, &mut sent);
            report.upload_bytes_sent += sent;
            bytes_done += blob.size;
            match outcome {
                Ok(()) => {
                    blobs.mark_uploaded(&blob.hash)?;
                    report.uploads_done += 1;
                }
                Err(Stop::Network(reason)) => {
                    report.upload_error = Some(reason);
                    break;
                }
                Err(Stop::Revoked) => return Err(ApiError::Revoked),
                Err(Stop::Retry(reason)) => {
                    let attempts = blobs.mark_retry(&blob.hash, &reason, self.now())?;
                    let give_up =
                        reason.starts_with("hash_mismatch") && attempts >= MAX_HASH_MISMATCHES;
                    if give_up {
                        blobs.mark_failed(&blob.hash, &reason)?;
                    }
                    report.upload_failures.push(UploadFailure {
                        hash: blob.hash.clone(),
                        order_id: blob.order_id.clone(),
                        reason,
                        will_retry: !give_up,
                    });
                }
                Err(Stop::Refused(reason)) => {
                    blobs.mark_failed(&blob.hash, &reason)?;
                    report.upload_failures.push(UploadFailure {
                        hash: blob.hash.clone(),
                        order_id: blob.order_id.clone(),
                        reason,
                        will_retry: false,
                    });
                }
            }
        }
        self.progress(SyncProgress {
            phase: SyncPhase::Uploads,
            done: total,
            total,
            bytes_done: bytes_total,
            bytes_total,
        });
        Ok(())
    }

    /// The resumable upload of one blob: ask the server what it has, send the rest in chunks.
    fn upload_one(
        &self,
        blobs: &LocalBlobs,
        token: &str,
        blob: &PendingBlob,
        sent: &mut u64,
    ) -> std::result::Result<(), Stop> {
        let bytes = match blobs.read(&blob.hash) {
            Ok(Some(b)) => b,
            Ok(None) => return Err(Stop::Refused("the file is missing on this device".into())),
            Err(e) => return Err(Stop::Refused(e.to_string())),
        };
        let path = format!("/api/v1/blobs/{}/upload", blob.hash);
        let start = || -> std::result::Result<UploadState, Stop> {
            self.http
                .json(
                    Method::POST,
                    &path,
                    Some(token),
                    Some(&json!({"size": bytes.len(), "content_type": blob.content_type})),
                )
                .map_err(stop_of)
        };
        let mut state = start()?;
        let chunk = self.config.upload_chunk_bytes as usize;
        let mut resyncs = 0;
        while !state.complete {
            let offset = usize::try_from(state.offset).unwrap_or(usize::MAX);
            if offset > bytes.len() {
                return Err(Stop::Retry(format!(
                    "the server reports {offset} bytes of {}",
                    bytes.len()
                )));
            }
            let end = (offset + chunk).min(bytes.len());
            let answer = self.http.bytes(
                Method::PATCH,
                &format!("{path}?offset={offset}"),
                token,
                Some(&bytes[offset..end]),
                None,
            );
            match answer {
                Ok((body, _)) => {
                    *sent += (end - offset) as u64;
                    state = serde_json::from_slice(&body)
                        .map_err(|e| Stop::Retry(format!("unexpected upload answer: {e}")))?;
                }
                // Someone (this device before a cut, or another device with the same photo)
                // moved the offset, or the upload is gone (discarded, swept): ask again and go
                // on from what the server says.
                Err(Failure::Status {
                    status: status @ (404 | 409),
                    ref code,
                    ..
                }) if (status == 404 || code == "offset_mismatch") && resyncs < 5 => {
                    resyncs += 1;
                    state = start()?;
                }
                Err(f) => return Err(stop_of(f)),
            }
            self.progress(SyncProgress {
                phase: SyncPhase::Uploads,
                done: 0,
                total: 1,
                bytes_done: state.offset,
                bytes_total: bytes.len() as u64,
            });
        }
        Ok(())
    }
}

fn stop_of(f: Failure) -> Stop {
    match &f {
        Failure::Transport(m) => Stop::Network(format!("no connection to the server: {m}")),
        Failure::Status {
            status,
            code,
            message,
        } => match (*status, code.as_str()) {
            (401, "device_revoked") => Stop::Revoked,
            (422, "hash_mismatch") => Stop::Retry(format!("hash_mismatch: {message}")),
            (422 | 413 | 400, _) => Stop::Refused(format!("{code}: {message}")),
            _ => Stop::Retry(format!("{status} {code}: {message}")),
        },
    }
}
