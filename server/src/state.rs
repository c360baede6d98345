//! What every handler shares.

use crate::auth::password;
use crate::auth::ratelimit::LoginLimiter;
use crate::config::Settings;
use crate::db::Db;
use crate::docstore::DocStore;
use crate::error::{Error, Result};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Cheap to clone: a pool handle and a few `Arc`s. All durable state is in the database, so any
/// number of server nodes can share one PostgreSQL.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Db,
    pub docs: DocStore,
    pub settings: Arc<Settings>,
    pub login_limiter: Arc<LoginLimiter>,
    /// Verified against when a login names an unknown account (uniform timing).
    pub dummy_hash: Arc<str>,
    /// Photos and signatures (`<data_dir>/blobs` by default).
    pub blobs: Arc<crate::blobs::Blobs>,
    /// Bounds concurrent argon2 work (19 MiB and a core each): a burst of logins queues here
    /// instead of filling the blocking thread pool and the memory.
    password_permits: Arc<Semaphore>,
    /// Bounds the sync requests merging pushes at once (CPU work, and documents in memory):
    /// twice the cores, so one request loads while another merges.
    merge_permits: Arc<Semaphore>,
}

impl AppState {
    /// Build the state over a migrated database.
    pub async fn new(db: Db, settings: Settings) -> Result<AppState> {
        let docs = DocStore::open(&db).await?;
        let dummy_hash = tokio::task::spawn_blocking(password::dummy_hash)
            .await
            .map_err(|e| Error::Password(e.to_string()))?;
        let blobs = Arc::new(crate::blobs::Blobs::in_dir(settings.data_dir.join("blobs")));
        Ok(AppState {
            db,
            docs,
            blobs,
            login_limiter: Arc::new(LoginLimiter::new(
                settings.login_max_failures,
                settings.login_window,
            )),
            settings: Arc::new(settings),
            dummy_hash: dummy_hash.into(),
            password_permits: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get() * 2),
            )),
            merge_permits: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get() * 2),
            )),
        })
    }

    /// A turn to merge a sync request's pushes (`sync::prepare`).
    pub async fn merge_permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>> {
        self.merge_permits
            .acquire()
            .await
            .map_err(|e| Error::Invalid(e.to_string()))
    }

    /// Run argon2 work (`auth::password`) off the async threads, a bounded number at a time.
    pub async fn password_work<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let _permit = self
            .password_permits
            .acquire()
            .await
            .map_err(|e| Error::Password(e.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| Error::Password(e.to_string()))
    }
}
