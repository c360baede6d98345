//! Callbacks the app registers with `FieldClient::set_listener`.

/// What part of a sync is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum SyncPhase {
    /// Work-order documents, both ways.
    Documents,
    /// Photos and signatures, up.
    Uploads,
}

/// Progress of a sync, for a progress bar. Totals can grow while a sync runs (the server pages
/// large first syncs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SyncProgress {
    pub phase: SyncPhase,
    /// Documents received, or blobs uploaded.
    pub done: u64,
    pub total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// Implemented by the app (Kotlin `object : ClientListener`, a Swift class, a Python class).
/// Callbacks run on the thread of the call that caused them (a sync runs them on the sync's
/// thread): hand the work to the UI thread yourself. They must not call back into the client
/// synchronously in a way that waits for the same call to finish.
#[uniffi::export(with_foreign)]
pub trait ClientListener: Send + Sync {
    /// These orders changed (a local edit, or a sync brought changes, new orders or evictions).
    /// Reload what is on screen.
    fn orders_changed(&self, order_ids: Vec<String>);
    /// A sync made progress.
    fn sync_progress(&self, progress: SyncProgress);
    /// The server revoked this device. The local data has already been wiped; show sign-in.
    fn device_revoked(&self);
}
