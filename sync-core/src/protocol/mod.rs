//! The batch sync protocol, both halves, transport-agnostic (bytes in, bytes out).
//!
//! One request carries every changed document of a device; one response carries the
//! acknowledgements and every document changed on the server since the device's cursor. Per
//! document it is a heads-keyed exchange: the device sends the changes after the heads the server
//! last acknowledged, the server answers with the changes after the device's heads. A changed
//! document converges in one round trip; an idle sync is one round trip of a few dozen bytes
//! whatever the number of documents. See `docs/sync-protocol.md`.

#[cfg(feature = "store")]
pub mod device;
pub mod memory;
pub mod reference;
pub mod server;
pub mod wire;

pub use wire::{
    AckError, DocAck, DocPull, DocPush, Limits, PROTOCOL_VERSION, SyncRequest, SyncResponse,
    decode_request, decode_response, encode_request, encode_response,
};
