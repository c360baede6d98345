//! The one error type that crosses the FFI boundary, and the one place internal errors are
//! mapped onto it (the `From` impls below), logged as they are mapped.
//!
//! Variants are stable: apps switch on them (Kotlin `ApiException.Revoked`, Swift
//! `ApiError.Revoked`, Python `ApiError.Revoked`). It is a *flat* uniffi error: each variant
//! reaches the app with one human message (the `Display` text). Messages never contain personal
//! data (names, addresses, tokens); they may contain ids, SKUs and numbers.

use std::fmt;

/// Everything that can go wrong in a call. Add variants at the end only; never rename one.
#[derive(Debug, Clone, PartialEq, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum ApiError {
    /// An argument is malformed or not acceptable (an id that is not a UUID, a quantity of 0, a
    /// form answer outside its range ...). Fix the input; retrying will not help.
    #[error("{reason}")]
    InvalidInput { reason: String },
    /// The order, visit, line or blob does not exist on this device.
    #[error("{reason}")]
    NotFound { reason: String },
    /// The status machine does not allow this change from the order's current status.
    #[error("{reason}")]
    TransitionNotAllowed { reason: String },
    /// The call does not fit the current state: not signed in, not checked in, already signed,
    /// a sync already running elsewhere ...
    #[error("{reason}")]
    InvalidState { reason: String },
    /// The service report does not satisfy its form template (the message lists the fields);
    /// `validate_report` returns the same problems as records.
    #[error("{reason}")]
    ReportIncomplete { reason: String },
    /// The bytes handed over as a photo or signature are not a usable image: empty, not JPEG or
    /// PNG, truncated, or too large (decompression-bomb limits).
    #[error("{reason}")]
    ImageRejected { reason: String },
    /// The server (or a business rule) does not allow this for the signed-in user's role.
    #[error("{reason}")]
    NotAllowed { reason: String },
    /// Wrong email or password, too many attempts, or credentials the server no longer accepts.
    #[error("{reason}")]
    Unauthorized { reason: String },
    /// The server revoked this device. The library has wiped its local data; sign in again.
    #[error("this device was revoked; its local data was wiped; sign in again")]
    Revoked,
    /// No connection, a time-out, or a connection cut: nothing was lost; try again later.
    #[error("{reason}")]
    Network { reason: String },
    /// The server failed or answered something this library does not understand.
    #[error("{reason}")]
    Server { reason: String },
    /// The local database or file system failed (disk full, damaged store ...).
    #[error("{reason}")]
    Storage { reason: String },
    /// A bug: an unexpected state, or a panic caught at the boundary. Please report it.
    #[error("{reason}")]
    Internal { reason: String },
}

/// `Result` with [`ApiError`].
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

impl ApiError {
    pub(crate) fn input(reason: impl fmt::Display) -> Self {
        ApiError::InvalidInput {
            reason: reason.to_string(),
        }
    }
    pub(crate) fn state(reason: impl fmt::Display) -> Self {
        ApiError::InvalidState {
            reason: reason.to_string(),
        }
    }
    pub(crate) fn not_found(reason: impl fmt::Display) -> Self {
        ApiError::NotFound {
            reason: reason.to_string(),
        }
    }
    pub(crate) fn image(reason: impl fmt::Display) -> Self {
        ApiError::ImageRejected {
            reason: reason.to_string(),
        }
    }
    pub(crate) fn network(reason: impl fmt::Display) -> Self {
        ApiError::Network {
            reason: reason.to_string(),
        }
    }
    pub(crate) fn server(reason: impl fmt::Display) -> Self {
        ApiError::Server {
            reason: reason.to_string(),
        }
    }
    pub(crate) fn storage(reason: impl fmt::Display) -> Self {
        ApiError::Storage {
            reason: reason.to_string(),
        }
    }
    pub(crate) fn internal(reason: impl fmt::Display) -> Self {
        ApiError::Internal {
            reason: reason.to_string(),
        }
    }

    /// Whether retrying later may succeed without changing anything (connection problems and
    /// server failures).
    pub fn is_transient(&self) -> bool {
        matches!(self, ApiError::Network { .. } | ApiError::Server { .. })
    }
}

impl From<sync_core::Error> for ApiError {
    fn from(e: sync_core::Error) -> Self {
        use sync_core::Error as E;
        let mapped = match &e {
            E::InvalidInput(m) => ApiError::input(m),
            E::TransitionNotAllowed { .. } => ApiError::TransitionNotAllowed {
                reason: e.to_string(),
            },
            E::NotAllowed(m) => ApiError::NotAllowed { reason: m.clone() },
            E::NotFound(m) => ApiError::not_found(format!("not found: {m}")),
            E::Storage(_) => ApiError::storage(e.to_string()),
            E::InvalidDocument(_) | E::Automerge(_) => ApiError::storage(e.to_string()),
            E::Protocol(m) => ApiError::server(format!("sync protocol: {m}")),
        };
        log(&mapped);
        mapped
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        let mapped = ApiError::storage(format!("blob index: {e}"));
        log(&mapped);
        mapped
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        let mapped = ApiError::storage(format!("file system: {e}"));
        log(&mapped);
        mapped
    }
}

/// Errors callers cause (bad input, wrong state) are routine; storage, server and internal
/// errors are worth a warning in the app's log.
fn log(e: &ApiError) {
    match e {
        ApiError::Storage { .. } | ApiError::Internal { .. } | ApiError::Server { .. } => {
            tracing::warn!(error = %e, "mobile-ffi error")
        }
        _ => tracing::debug!(error = %e, "mobile-ffi error"),
    }
}

/// Run one exported call, turning a panic inside it into [`ApiError::Internal`]: no panic ever
/// unwinds into the app's runtime. Every exported method goes through this.
pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            let e = ApiError::internal(format!("internal error (panic): {what}"));
            log(&e);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_internal_error() {
        let r: Result<()> = guard(|| panic!("boom"));
        match r {
            Err(ApiError::Internal { reason }) => assert!(reason.contains("boom")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sync_core_errors_map_to_stable_variants() {
        let e: ApiError = sync_core::Error::InvalidInput("qty".into()).into();
        assert!(matches!(e, ApiError::InvalidInput { .. }));
        let e: ApiError = sync_core::Error::TransitionNotAllowed {
            from: sync_core::Status::New,
            to: sync_core::Status::Completed,
            role: "engineer".into(),
        }
        .into();
        assert!(matches!(e, ApiError::TransitionNotAllowed { .. }));
        assert!(e.to_string().contains("new -> completed"));
    }
}
