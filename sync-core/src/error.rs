//! The crate's one error type.

use crate::workorder::Status;

/// Everything that can go wrong in sync-core. Variants are stable: the server and the phone map
/// them onto their own wire errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Automerge refused the bytes or an operation (corrupt document, bad change chunk).
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),

    /// A stored or received document could not be read as a work order.
    #[error("document is not a valid work order: {0}")]
    InvalidDocument(String),

    /// A caller supplied bad input (form answer, quantity, unknown line ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// The status machine does not allow this transition for this role.
    #[error("transition {from} -> {to} is not allowed for {role}")]
    TransitionNotAllowed {
        from: Status,
        to: Status,
        role: String,
    },

    /// The actor's role may not change this part of the document.
    #[error("not allowed: {0}")]
    NotAllowed(String),

    /// A sync message was malformed, of an unknown version or too large.
    #[error("protocol: {0}")]
    Protocol(String),

    /// Something that should exist does not.
    #[error("not found: {0}")]
    NotFound(String),

    /// The device store failed.
    #[cfg(feature = "store")]
    #[error("storage: {0}")]
    Storage(#[from] rusqlite::Error),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
