//! The wire format: an 8-byte header and a postcard payload, deflated when that helps.
//!
//! ```text
//! "LMSY" | version: u16 BE | kind: u8 (1 request, 2 response) | flags: u8 (bit 0: deflate)
//! payload: postcard(SyncRequest | SyncResponse)
//! ```
//! Decoding is strict: wrong magic, unknown version, unknown flags, a payload that does not
//! parse to the end, or anything over [`Limits`] is a [`Error::Protocol`], and nothing is applied.

use crate::rules::authority::Refusal;
use crate::{DocId, Error, Result};
use automerge::ChangeHash;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 1;
const MAGIC: &[u8; 4] = b"LMSY";
const KIND_REQUEST: u8 = 1;
const KIND_RESPONSE: u8 = 2;
const FLAG_DEFLATE: u8 = 1;
/// Payloads smaller than this are sent as they are: deflate would not pay for its header.
const DEFLATE_FROM: usize = 256;

/// Size limits, enforced on both sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest encoded message accepted.
    pub max_message_bytes: usize,
    /// Largest payload after inflating (decompression-bomb guard).
    pub max_payload_bytes: usize,
    /// Most documents in one message.
    pub max_docs: usize,
    /// A response stops adding pulls once it holds this many bytes of changes (then `more`).
    pub page_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 16 << 20,
            max_payload_bytes: 64 << 20,
            max_docs: 10_000,
            page_bytes: 2 << 20,
        }
    }
}

/// A 32-byte Automerge change hash on the wire.
pub type Hash = [u8; 32];

/// Convert heads to their wire form.
pub fn to_wire(heads: &[ChangeHash]) -> Vec<Hash> {
    heads.iter().map(|h| h.0).collect()
}

/// Convert wire heads back.
pub fn from_wire(heads: &[Hash]) -> Vec<ChangeHash> {
    heads.iter().map(|h| ChangeHash(*h)).collect()
}

/// What a device sends: its cursor, the last response it applied, and its changed documents.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// The last server change sequence this device has applied.
    pub cursor: u64,
    /// The `token` of the last response this device applied and persisted (0: none). Tells the
    /// server which of the documents it sent are safely on the device.
    pub applied: u64,
    /// Changed documents.
    pub pushes: Vec<DocPush>,
    /// Documents the device evicted after the server asked it to.
    pub evicted: Vec<DocId>,
    /// The version of the reference data (catalog, van stock) the device holds (0: none).
    pub reference_version: u64,
}

/// One changed document: the device's heads and the changes the server has not acknowledged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DocPush {
    pub id: DocId,
    /// Heads the server last acknowledged (empty: send everything).
    pub base: Vec<Hash>,
    /// The device's heads, once `changes` are applied.
    pub heads: Vec<Hash>,
    /// Automerge changes since `base` (`save_after(base)`).
    #[serde(with = "serde_bytes")]
    pub changes: Vec<u8>,
}

/// What the server answers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncResponse {
    /// The cursor to send next time.
    pub cursor: u64,
    /// Identifies this response; the device echoes it as `applied` once persisted.
    pub token: u64,
    /// More documents are waiting: sync again right away.
    pub more: bool,
    /// One per pushed document.
    pub acks: Vec<DocAck>,
    /// Documents changed on the server (or new in scope).
    pub pulls: Vec<DocPull>,
    /// Documents that left the device's scope: evict once nothing is pending for them.
    pub evict: Vec<DocId>,
    /// What is left after this page (for progress bars).
    pub remaining_docs: u64,
    pub remaining_bytes: u64,
    /// Reference data changed since the device's version, if any.
    pub reference: Option<super::reference::ReferenceDelta>,
}

/// The server's answer for one pushed document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DocAck {
    pub id: DocId,
    /// `None`: merged. Otherwise why the document's changes were not taken.
    pub error: Option<AckError>,
    /// Server heads after the merge.
    pub heads: Vec<Hash>,
    /// What the device lacks after the merge (other people's edits, server compensations).
    #[serde(with = "serde_bytes")]
    pub changes: Vec<u8>,
    /// Edits the device was not allowed to make; they were reverted and flagged.
    pub refusals: Vec<Refusal>,
    /// Conflicts the merge resolved (fields), flagged for a dispatcher.
    pub conflicts: Vec<String>,
}

/// Why a pushed document was not merged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckError {
    /// The server lacks the changes `base` names: resend everything (`base` empty).
    MissingBase,
    /// The changes could not be parsed.
    Malformed,
    /// This device may not write this document (other organisation, never in scope).
    NotAllowed,
}

/// A document the device should have or update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DocPull {
    pub id: DocId,
    pub heads: Vec<Hash>,
    #[serde(with = "serde_bytes")]
    pub changes: Vec<u8>,
}

/// Encode a request.
pub fn encode_request(req: &SyncRequest) -> Result<Vec<u8>> {
    encode(KIND_REQUEST, req)
}

/// Encode a response.
pub fn encode_response(resp: &SyncResponse) -> Result<Vec<u8>> {
    encode(KIND_RESPONSE, resp)
}

/// Decode a request strictly.
pub fn decode_request(bytes: &[u8], limits: &Limits) -> Result<SyncRequest> {
    let req: SyncRequest = decode(KIND_REQUEST, bytes, limits)?;
    if req.pushes.len() + req.evicted.len() > limits.max_docs {
        return Err(Error::Protocol(format!(
            "too many documents in one request (limit {})",
            limits.max_docs
        )));
    }
    Ok(req)
}

/// Decode a response strictly.
pub fn decode_response(bytes: &[u8], limits: &Limits) -> Result<SyncResponse> {
    let resp: SyncResponse = decode(KIND_RESPONSE, bytes, limits)?;
    if resp.acks.len() + resp.pulls.len() + resp.evict.len() > limits.max_docs {
        return Err(Error::Protocol("too many documents in one response".into()));
    }
    Ok(resp)
}

fn encode<T: Serialize>(kind: u8, msg: &T) -> Result<Vec<u8>> {
    let payload = postcard::to_stdvec(msg).map_err(|e| Error::Protocol(format!("encode: {e}")))?;
    let mut out = Vec::with_capacity(payload.len() / 2 + 8);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    out.push(kind);
    if payload.len() >= DEFLATE_FROM {
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&payload)
            .map_err(|e| Error::Protocol(e.to_string()))?;
        let deflated = z.finish().map_err(|e| Error::Protocol(e.to_string()))?;
        if deflated.len() < payload.len() {
            out.push(FLAG_DEFLATE);
            out.extend_from_slice(&deflated);
            return Ok(out);
        }
    }
    out.push(0);
    out.extend_from_slice(&payload);
    Ok(out)
}

fn decode<T: for<'de> Deserialize<'de>>(kind: u8, bytes: &[u8], limits: &Limits) -> Result<T> {
    let bad = |why: String| Error::Protocol(why);
    if bytes.len() > limits.max_message_bytes {
        return Err(bad(format!(
            "message of {} bytes is over the limit of {}",
            bytes.len(),
            limits.max_message_bytes
        )));
    }
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Err(bad("not a Lastmile sync message".into()));
    }
    let version = u16::from_be_bytes([bytes[4], bytes[5]]);
    if version != PROTOCOL_VERSION {
        return Err(bad(format!(
            "unsupported protocol version {version} (this build speaks {PROTOCOL_VERSION})"
        )));
    }
    if bytes[6] != kind {
        return Err(bad(format!("unexpected message kind {}", bytes[6])));
    }
    let flags = bytes[7];
    let body = &bytes[8..];
    let inflated;
    let payload = match flags {
        0 => body,
        FLAG_DEFLATE => {
            let mut out = Vec::new();
            let limit = limits.max_payload_bytes as u64;
            let mut z = flate2::read::DeflateDecoder::new(body);
            (&mut z)
                .take(limit + 1)
                .read_to_end(&mut out)
                .map_err(|e| bad(format!("bad compressed payload: {e}")))?;
            if out.len() as u64 > limit {
                return Err(bad("payload inflates past the size limit".into()));
            }
            if z.total_in() != body.len() as u64 {
                return Err(bad("trailing bytes after the compressed payload".into()));
            }
            inflated = out;
            &inflated[..]
        }
        other => return Err(bad(format!("unknown flags {other:#04x}"))),
    };
    let (msg, rest) = postcard::take_from_bytes::<T>(payload)
        .map_err(|e| bad(format!("malformed payload: {e}")))?;
    if !rest.is_empty() {
        return Err(bad(format!(
            "{} trailing bytes after the message",
            rest.len()
        )));
    }
    Ok(msg)
}
