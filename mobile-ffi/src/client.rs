//! [`FieldClient`]: the object the app holds for its lifetime. This module has its state,
//! opening, signing in and out, and wiping; the engineer's operations are in `field.rs`,
//! `orders.rs`, `media.rs`, and syncing in `sync.rs`.

use crate::blobs::LocalBlobs;
use crate::config::ClientConfig;
use crate::error::{ApiError, Result, guard};
use crate::http::{Failure, Http};
use crate::listener::ClientListener;
use crate::records::DeviceCredentials;
use reqwest::Method;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;
use sync_core::{DocId, EditContext, Role, Store, UserId, WorkOrderDoc};

/// Store meta keys this library keeps (sync-core reserves `store.` and `sync.`).
pub(crate) const META_DEVICE_ID: &str = "ffi.device_id";
pub(crate) const META_OWNER: &str = "ffi.owner";
pub(crate) const META_LAST_SYNC: &str = "ffi.last_sync_ms";
pub(crate) const META_TEMPLATE_PREFIX: &str = "ffi.template.";

/// The device's local data: the sync-core store and the blob store beside it.
#[derive(Debug)]
pub(crate) struct Local {
    pub store: Store,
    pub blobs: LocalBlobs,
}

impl Local {
    fn open(db: &Path) -> Result<Local> {
        if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let store = Store::open(db)?;
        let blobs = LocalBlobs::open(&blob_dir(db))?;
        Ok(Local { store, blobs })
    }
}

/// `<database_path>.blobs`
pub(crate) fn blob_dir(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".blobs");
    PathBuf::from(s)
}

pub(crate) type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default()
    })
}

/// The engineer's phone library. Open one per app process and keep it; every method is safe to
/// call from any thread, and none blocks on a sync in progress.
#[derive(uniffi::Object)]
pub struct FieldClient {
    pub(crate) config: ClientConfig,
    pub(crate) http: Http,
    /// `None` only for the instant of a wipe.
    state: RwLock<Option<Arc<Local>>>,
    creds: RwLock<Option<DeviceCredentials>>,
    /// Set when the server revoked this device (calls then answer `Revoked` until a sign-in).
    revoked: AtomicBool,
    listener: RwLock<Option<Arc<dyn ClientListener>>>,
    /// One sync at a time; other calls never take it.
    pub(crate) sync_lock: Mutex<()>,
    clock: RwLock<Clock>,
}

impl std::fmt::Debug for FieldClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldClient")
            .field("database_path", &self.config.database_path)
            .field("server_url", &self.config.server_url)
            .finish_non_exhaustive()
    }
}

#[uniffi::export]
impl FieldClient {
    /// Open (or create) the device store at `config.database_path`. Works offline. Pass the
    /// credentials kept from `login` (after an app restart), or `None` before the first sign-in.
    /// Credentials of another engineer than the one whose data the device holds are accepted only
    /// if nothing is waiting for upload (the old data is then wiped).
    #[uniffi::constructor]
    pub fn open(
        config: ClientConfig,
        credentials: Option<DeviceCredentials>,
    ) -> Result<Arc<FieldClient>> {
        guard(|| {
            // rustls needs a process-wide provider for anything that asks for the default one;
            // our own ClientConfig names ring explicitly. Installing twice is harmless.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let config = config.validated()?;
            let http = Http::new(
                &config.server_url,
                Duration::from_millis(u64::from(config.request_timeout_ms)),
                config.extra_ca_pem.as_deref(),
            )?;
            let local = Local::open(Path::new(&config.database_path))?;
            let client = FieldClient {
                config,
                http,
                state: RwLock::new(Some(Arc::new(local))),
                creds: RwLock::new(None),
                revoked: AtomicBool::new(false),
                listener: RwLock::new(None),
                sync_lock: Mutex::new(()),
                clock: RwLock::new(system_clock()),
            };
            if let Some(c) = credentials {
                let user = parse_user(&c.user_id)?;
                client.claim_store(user)?;
                *client.creds.write().unwrap_or_else(PoisonError::into_inner) = Some(c);
            }
            Ok(Arc::new(client))
        })
    }

    /// Sign in with email and password, register this phone, and return its credentials (keep
    /// them in secure storage). Needs the network. `organisation` (id or name) is needed only
    /// when the email exists in several organisations; `device_name` is shown to dispatchers.
    /// Only field engineers can sign in here.
    pub fn login(
        &self,
        email: String,
        password: String,
        organisation: Option<String>,
        device_name: Option<String>,
    ) -> Result<DeviceCredentials> {
        guard(|| {
            let session: serde_json::Value = self
                .http
                .json(
                    Method::POST,
                    "/api/v1/auth/login",
                    None,
                    Some(&json!({
                        "email": email, "password": password, "organisation": organisation
                    })),
                )
                .map_err(ApiError::from)?;
            let token = session["token"].as_str().unwrap_or_default().to_owned();
            let user = &session["user"];
            let field = |k: &str| user[k].as_str().unwrap_or_default().to_owned();
            let result = (|| {
                if field("role") != "engineer" {
                    return Err(ApiError::NotAllowed {
                        reason: "only field engineers can sign in on the phone".into(),
                    });
                }
                let user_id = parse_user(&field("id"))?;
                self.claim_store(user_id)?;
                let device_id = self.device_id_inner()?;
                let registered: serde_json::Value = self
                    .http
                    .json(
                        Method::POST,
                        "/api/v1/devices",
                        Some(&token),
                        Some(&json!({"device_id": device_id, "name": device_name})),
                    )
                    .map_err(ApiError::from)?;
                Ok(DeviceCredentials {
                    user_id: user_id.to_string(),
                    org_id: field("org_id"),
                    user_name: field("name"),
                    email: field("email"),
                    device_id,
                    token: registered["token"]
                        .as_str()
                        .ok_or_else(|| ApiError::server("the server sent no device token"))?
                        .to_owned(),
                })
            })();
            // The session token was only needed to register the device: revoke it (best
            // effort; it expires by itself anyway).
            let _ = self.http.json::<serde_json::Value>(
                Method::POST,
                "/api/v1/auth/logout",
                Some(&token),
                None,
            );
            let creds = result?;
            *self.creds.write().unwrap_or_else(PoisonError::into_inner) = Some(creds.clone());
            self.revoked.store(false, Ordering::SeqCst);
            Ok(creds)
        })
    }

    /// Use credentials kept from an earlier `login` (e.g. read back from secure storage after
    /// `open(config, None)`).
    pub fn set_credentials(&self, credentials: DeviceCredentials) -> Result<()> {
        guard(|| {
            let user = parse_user(&credentials.user_id)?;
            self.claim_store(user)?;
            *self.creds.write().unwrap_or_else(PoisonError::into_inner) = Some(credentials);
            self.revoked.store(false, Ordering::SeqCst);
            Ok(())
        })
    }

    /// The signed-in engineer's credentials, if any.
    pub fn credentials(&self) -> Option<DeviceCredentials> {
        self.creds
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// This install's device id (random, created on first use, kept until the data is wiped).
    pub fn device_id(&self) -> Result<String> {
        guard(|| self.device_id_inner())
    }

    /// Sign out: revoke this device on the server and wipe the local data. Refused while work
    /// is waiting for upload unless `discard_unsynced` is set (then also when offline: the
    /// server-side revocation is best effort, an administrator can revoke the device later).
    pub fn sign_out(&self, discard_unsynced: bool) -> Result<()> {
        guard(|| {
            let _sync = self
                .sync_lock
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let (orders, photos) = self.unsynced()?;
            if !discard_unsynced && orders + photos > 0 {
                return Err(ApiError::state(format!(
                    "{orders} order(s) and {photos} photo(s) are not on the server yet; sync \
                     first, or sign out discarding them"
                )));
            }
            if let Some(c) = self.credentials() {
                let revoked = self.http.json::<serde_json::Value>(
                    Method::POST,
                    "/api/v1/auth/logout",
                    Some(&c.token),
                    None,
                );
                match revoked {
                    Ok(_) => {}
                    // Already revoked, or the server does not know it: signed out all the same.
                    Err(Failure::Status { status: 401, .. }) => {}
                    Err(e) if !discard_unsynced => return Err(e.into()),
                    Err(e) => tracing::warn!(error = ?e, "sign-out could not reach the server"),
                }
            }
            self.wipe()?;
            Ok(())
        })
    }

    /// Register the app's listener (data changed, sync progress, device revoked), or remove it
    /// with `None`. Callbacks run on the thread that made the change: post to the UI thread.
    pub fn set_listener(&self, listener: Option<Arc<dyn ClientListener>>) {
        *self
            .listener
            .write()
            .unwrap_or_else(PoisonError::into_inner) = listener;
    }
}

impl FieldClient {
    /// Open with a replaceable clock (Rust tests and benches: labour timers, backoff).
    pub fn open_with_clock(
        config: ClientConfig,
        credentials: Option<DeviceCredentials>,
        clock: impl Fn() -> i64 + Send + Sync + 'static,
    ) -> Result<Arc<FieldClient>> {
        let client = Self::open(config, credentials)?;
        *client.clock.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(clock);
        Ok(client)
    }

    pub(crate) fn now(&self) -> i64 {
        let clock = self
            .clock
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        clock()
    }

    /// The local data, or `Revoked` right after a wipe.
    pub(crate) fn local(&self) -> Result<Arc<Local>> {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or(ApiError::Revoked)
    }

    /// The signed-in engineer.
    pub(crate) fn require_creds(&self) -> Result<DeviceCredentials> {
        if self.revoked.load(Ordering::SeqCst) {
            return Err(ApiError::Revoked);
        }
        self.credentials()
            .ok_or_else(|| ApiError::state("sign in first"))
    }

    pub(crate) fn user(&self) -> Result<UserId> {
        parse_user(&self.require_creds()?.user_id)
    }

    pub(crate) fn listener(&self) -> Option<Arc<dyn ClientListener>> {
        self.listener
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Tell the listener which orders changed. A failing callback never fails the call.
    pub(crate) fn notify_changed(&self, ids: Vec<String>) {
        if ids.is_empty() {
            return;
        }
        if let Some(l) = self.listener() {
            let _ =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| l.orders_changed(ids)));
        }
    }

    fn device_id_inner(&self) -> Result<String> {
        let local = self.local()?;
        let stored = local.store.read(|tx| tx.meta(META_DEVICE_ID))?;
        if let Some(id) = stored.and_then(|b| String::from_utf8(b).ok()) {
            return Ok(id);
        }
        let id = format!("phone-{}", uuid::Uuid::new_v4());
        local
            .store
            .write(|tx| {
                // Another thread may have created it meanwhile: keep the first.
                match tx.meta(META_DEVICE_ID)? {
                    Some(b) => Ok(String::from_utf8(b).unwrap_or(id)),
                    None => {
                        tx.set_meta(META_DEVICE_ID, id.as_bytes())?;
                        Ok(id)
                    }
                }
            })
            .map_err(ApiError::from)
    }

    /// Make the store `user`'s: fine if it is theirs or nobody's; another engineer's data is
    /// wiped first, unless some of it is still waiting for upload.
    fn claim_store(&self, user: UserId) -> Result<()> {
        let local = self.local()?;
        let owner = local
            .store
            .read(|tx| tx.meta(META_OWNER))?
            .and_then(|b| String::from_utf8(b).ok());
        drop(local);
        match owner {
            Some(o) if o == user.to_string() => return Ok(()),
            Some(_) => {
                let (orders, photos) = self.unsynced()?;
                if orders + photos > 0 {
                    return Err(ApiError::state(format!(
                        "this phone holds {orders} order(s) and {photos} photo(s) of another \
                         engineer that are not synced yet; that engineer must sync or sign out \
                         first"
                    )));
                }
                self.wipe_files()?;
            }
            None => {}
        }
        self.local()?
            .store
            .write(|tx| tx.set_meta(META_OWNER, user.to_string().as_bytes()))?;
        Ok(())
    }

    /// Orders and blobs waiting for upload.
    pub(crate) fn unsynced(&self) -> Result<(u32, u32)> {
        let local = self.local()?;
        let orders = local.store.read(|tx| tx.pending())?.len() as u32;
        Ok((orders, local.blobs.pending_count()?))
    }

    /// Forget the credentials and wipe every local file, leaving an empty store.
    pub(crate) fn wipe(&self) -> Result<()> {
        *self.creds.write().unwrap_or_else(PoisonError::into_inner) = None;
        self.wipe_files()
    }

    /// The server revoked this device: wipe, remember it, tell the app.
    pub(crate) fn revoke(&self) {
        self.revoked.store(true, Ordering::SeqCst);
        if let Err(e) = self.wipe() {
            tracing::error!(error = %e, "could not wipe the local data of a revoked device");
        }
        if let Some(l) = self.listener() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| l.device_revoked()));
        }
    }

    /// Close the store, delete its files and the blob folder, and open a fresh store. New calls
    /// wait meanwhile; calls in flight finish on the old (deleted) files.
    fn wipe_files(&self) -> Result<()> {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = state.take() {
            // Give calls in flight a moment to finish with the old store before its files go.
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while Arc::strong_count(&old) > 1 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            drop(old);
        }
        let db = PathBuf::from(&self.config.database_path);
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = db.as_os_str().to_owned();
            p.push(suffix);
            match std::fs::remove_file(PathBuf::from(p)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        match std::fs::remove_dir_all(blob_dir(&db)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        *state = Some(Arc::new(Local::open(&db)?));
        tracing::info!("local data wiped");
        Ok(())
    }

    /// Run `f` on order `order` as the signed-in engineer, and persist the result: one SQLite
    /// transaction (one fsync) for the clock tick, the change and the query rows. An error from
    /// `f` writes nothing.
    pub(crate) fn edit<R>(
        &self,
        order: &str,
        f: impl FnOnce(&mut WorkOrderDoc, &EditContext, UserId) -> Result<R>,
    ) -> Result<R> {
        let id = parse_order(order)?;
        let user = self.user()?;
        let local = self.local()?;
        let now = self.now();
        let node = node_of(local.store.actor());
        let mut failure: Option<ApiError> = None;
        let out = local.store.write(|tx| {
            let hlc = tx.hlc()?.tick(now, node);
            tx.set_hlc(hlc)?;
            let ctx = EditContext {
                user,
                role: Role::Engineer,
                device_time_ms: now,
                hlc,
            };
            let mut doc = tx.load(&id)?;
            match f(&mut doc, &ctx, user) {
                Ok(out) => {
                    tx.persist(&mut doc, true)?;
                    Ok(out)
                }
                Err(e) => {
                    failure = Some(e);
                    // Rolls the transaction back; the real error is `failure`.
                    Err(sync_core::Error::InvalidInput("edit refused".into()))
                }
            }
        });
        drop(local);
        match (out, failure) {
            (Ok(out), _) => {
                self.notify_changed(vec![id.to_string()]);
                Ok(out)
            }
            (Err(_), Some(e)) => Err(e),
            (Err(e), None) => Err(e.into()),
        }
    }
}

/// The HLC node tag of this install (as `Store::context` derives it).
pub(crate) fn node_of(actor: &sync_core::ActorId) -> u32 {
    u32::from_be_bytes(
        actor
            .to_bytes()
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; 4]),
    )
}

pub(crate) fn parse_order(id: &str) -> Result<DocId> {
    id.trim()
        .parse()
        .map_err(|_| ApiError::input(format!("{id:?} is not an order id")))
}

pub(crate) fn parse_user(id: &str) -> Result<UserId> {
    id.trim()
        .parse()
        .map_err(|_| ApiError::input("the credentials hold a malformed user id"))
}

pub(crate) fn parse_line(id: &str) -> Result<sync_core::LineId> {
    id.trim()
        .parse()
        .map_err(|_| ApiError::input(format!("{id:?} is not a line id")))
}
