//! Strict parsing of Automerge bytes received from elsewhere.
//!
//! `AutoCommit::load_incremental` silently ignores a corrupt or truncated tail (it logs a
//! warning and applies what it could parse). A sync protocol must not: a cut-off message has to be
//! an error that changes nothing. So incoming bytes are split into Automerge chunks here, every
//! chunk is parsed (checksums included) before anything is applied, and changes whose dependencies
//! are missing are refused as a whole.

use crate::{Error, Result};
use automerge::{Automerge, Change, ChangeHash, LoadOptions, OnPartialLoad};
use std::collections::HashSet;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT: u8 = 0;
const CHANGE: u8 = 1;
const COMPRESSED: u8 = 2;

/// Parse `bytes` (a saved document, or concatenated change chunks) into changes. Fails on any
/// malformed, truncated or trailing byte.
pub(crate) fn parse_changes(bytes: &[u8]) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (chunk_type, len) = header(rest)?;
        let (chunk, tail) = rest.split_at(len);
        match chunk_type {
            CHANGE | COMPRESSED => out.push(
                Change::from_bytes(chunk.to_vec())
                    .map_err(|e| Error::InvalidDocument(format!("bad change chunk: {e}")))?,
            ),
            DOCUMENT => {
                let doc = Automerge::load_with_options(
                    chunk,
                    LoadOptions::new().on_partial_load(OnPartialLoad::Error),
                )?;
                out.extend(doc.get_changes(&[]));
            }
            other => {
                return Err(Error::InvalidDocument(format!(
                    "unsupported chunk type {other}"
                )));
            }
        }
        rest = tail;
    }
    Ok(out)
}

/// The type and total length (header included) of the chunk at the start of `bytes`.
fn header(bytes: &[u8]) -> Result<(u8, usize)> {
    let bad = |why: &str| Error::InvalidDocument(format!("bad automerge chunk: {why}"));
    if bytes.len() < 9 || bytes[..4] != MAGIC {
        return Err(bad("missing magic bytes"));
    }
    let chunk_type = bytes[8];
    let mut len: u64 = 0;
    let mut shift = 0;
    let mut pos = 9;
    loop {
        let b = *bytes.get(pos).ok_or_else(|| bad("truncated length"))?;
        pos += 1;
        len |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 56 {
            return Err(bad("length overflow"));
        }
    }
    let total = usize::try_from(len)
        .ok()
        .and_then(|l| l.checked_add(pos))
        .ok_or_else(|| bad("length overflow"))?;
    if total > bytes.len() {
        return Err(bad("truncated chunk"));
    }
    Ok((chunk_type, total))
}

/// Changes whose dependencies are neither in `known` (the receiving document) nor in the batch.
pub(crate) fn missing_deps(
    changes: &[Change],
    mut known: impl FnMut(&ChangeHash) -> bool,
) -> Vec<ChangeHash> {
    let in_batch: HashSet<ChangeHash> = changes.iter().map(Change::hash).collect();
    let mut missing: Vec<ChangeHash> = changes
        .iter()
        .flat_map(|c| c.deps().iter().copied())
        .filter(|d| !in_batch.contains(d) && !known(d))
        .collect();
    missing.sort();
    missing.dedup();
    missing
}
