//! The device's local store: work-order documents and everything sync needs, in one SQLite file.
//!
//! - Documents are kept as a compacted Automerge snapshot plus the change chunks appended since;
//!   `persist` compacts once the chunks outweigh the snapshot, so loading stays fast.
//! - A query table (`orders`, with a trigram FTS5 index) is refreshed in the same transaction as
//!   the document, so list screens and search never load a document.
//! - Durability: WAL with `synchronous=FULL`, so an edit whose `write` returned survives a crash
//!   or power loss at any instant (DESIGN invariant 1).
//! - Concurrency: one writer and one reader connection, each behind a mutex. Reads run on their
//!   own WAL snapshot and never wait for a write in progress.
//!
//! See `docs/device-store.md` for tables, indexes, the compaction rule and the migration policy.

mod query;
mod reference;
mod schema;
mod tx;

pub use query::{ListQuery, Sort};
pub use reference::VanStock;
pub use tx::StoreTx;

use crate::workorder::OrderSummary;
use crate::{ActorId, DocId, Error, Result, WorkOrderDoc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use std::cell::RefCell;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How long a connection waits for another process's lock before failing with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The local store of one device install. `Send + Sync`: share it behind an `Arc`.
#[derive(Debug)]
pub struct Store {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    actor: ActorId,
}

impl Store {
    /// Open the store at `path`, creating or upgrading it. The file must be on disk (the two
    /// connections would see two different `:memory:` databases). Refuses a store written by a
    /// newer app version (`NotAllowed`).
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref();
        let mut writer = Connection::open(path)?;
        writer.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String =
            writer.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            // Still durable and correct, but reads then wait for writes.
            tracing::warn!(mode, "device store could not switch to WAL");
        }
        // FULL: in WAL mode, NORMAL may lose the last commits on power loss. An acknowledged
        // edit must survive, and a phone edits a few times a minute at most: fsync per commit.
        writer.pragma_update(None, "synchronous", "FULL")?;
        writer.pragma_update(None, "foreign_keys", true)?;
        schema::migrate(&mut writer)?;

        let actor = load_or_create_actor(&mut writer)?;

        let reader = Connection::open(path)?;
        reader.busy_timeout(BUSY_TIMEOUT)?;
        reader.pragma_update(None, "foreign_keys", true)?;
        reader.pragma_update(None, "query_only", true)?;

        let store = Store {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            actor,
        };
        let rebuilt = store.write(|tx| tx.reindex_if_stale())?;
        if rebuilt > 0 {
            tracing::info!(rebuilt, "rebuilt query rows");
        }
        Ok(store)
    }

    /// This install's Automerge actor id: random, created on first open, persisted.
    pub fn actor(&self) -> &ActorId {
        &self.actor
    }

    /// The context for an edit made now on this device: who, in which role, the device's wall
    /// clock (for display), and the next hybrid-logical-clock timestamp, which never goes
    /// backwards even when the wall clock does, and lands after every timestamp seen in
    /// documents received by sync. Persisted, so it survives restarts.
    pub fn context(
        &self,
        user: crate::UserId,
        role: crate::Role,
        now_ms: i64,
    ) -> Result<crate::EditContext> {
        let node = u32::from_be_bytes(
            self.actor
                .to_bytes()
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .unwrap_or([0; 4]),
        );
        let hlc = self.write(|tx| {
            let last = tx.hlc()?;
            let next = last.tick(now_ms, node);
            tx.set_hlc(next)?;
            Ok(next)
        })?;
        Ok(crate::EditContext {
            user,
            role,
            device_time_ms: now_ms,
            hlc,
        })
    }

    /// Run `f` in a read transaction on the reader connection: a consistent snapshot of the last
    /// committed state, which a concurrent write does not block. Calling `read` again from inside
    /// `f` is refused (it would deadlock).
    pub fn read<R>(&self, f: impl FnOnce(&StoreTx<'_>) -> Result<R>) -> Result<R> {
        let _guard = Reentry::enter(&READING, self, "read")?;
        let mut conn = lock(&self.reader);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let stx = StoreTx::new(tx, &self.actor);
        let out = f(&stx)?;
        stx.commit()?;
        Ok(out)
    }

    /// Run `f` in an IMMEDIATE transaction on the writer connection: committed (durably) if `f`
    /// returns `Ok`, rolled back if it returns `Err` or panics, so an error writes nothing.
    /// Calling `write` (or `edit`, `insert_local`) from inside `f` is refused (it would deadlock);
    /// use the `StoreTx` handed to `f`.
    pub fn write<R>(&self, f: impl FnOnce(&mut StoreTx<'_>) -> Result<R>) -> Result<R> {
        let _guard = Reentry::enter(&WRITING, self, "write")?;
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut stx = StoreTx::new(tx, &self.actor);
        let out = f(&mut stx)?;
        stx.commit()?;
        Ok(out)
    }

    /// Store an order created on this device and mark it pending upload.
    pub fn insert_local(&self, doc: &mut WorkOrderDoc) -> Result<()> {
        self.write(|tx| tx.persist(doc, true))
    }

    /// Load `id`, run `f` on it, and persist the result (new change chunk, query rows, pending
    /// upload), all in one transaction. If `f` fails, nothing changes.
    pub fn edit<R>(&self, id: &DocId, f: impl FnOnce(&mut WorkOrderDoc) -> Result<R>) -> Result<R> {
        self.write(|tx| {
            let mut doc = tx.load(id)?;
            let out = f(&mut doc)?;
            tx.persist(&mut doc, true)?;
            Ok(out)
        })
    }

    /// Load a document. `NotFound` if absent, `InvalidDocument` if its stored bytes are corrupt.
    pub fn load(&self, id: &DocId) -> Result<WorkOrderDoc> {
        self.read(|tx| tx.load(id))
    }

    /// List orders from the query table (no document is loaded).
    pub fn list(&self, q: &ListQuery) -> Result<Vec<OrderSummary>> {
        self.read(|tx| query::list(tx.conn(), q))
    }

    /// Full-text search over number, customer, site address, asset serial and model, and
    /// problem; best matches first, at most `limit` (0: no limit). Every word must match, as a
    /// substring, ignoring case and diacritics.
    pub fn search(&self, text: &str, limit: u32) -> Result<Vec<OrderSummary>> {
        self.read(|tx| query::search(tx.conn(), text, limit))
    }
}

/// The install's actor id from `meta`, created on first open.
fn load_or_create_actor(conn: &mut Connection) -> Result<ActorId> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let stored: Option<Vec<u8>> = tx
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            [tx::META_ACTOR],
            |r| r.get(0),
        )
        .optional()?;
    let actor = match stored {
        Some(bytes) if !bytes.is_empty() => ActorId::from_bytes(&bytes),
        Some(_) => {
            return Err(Error::InvalidInput(
                "the stored actor id is empty; the store is damaged".into(),
            ));
        }
        None => {
            // Random per install, never derived from a user: the same actor id on two devices
            // corrupts documents for good.
            let actor = ActorId::random();
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                rusqlite::params![tx::META_ACTOR, actor.to_bytes()],
            )?;
            actor
        }
    };
    tx.commit()?;
    Ok(actor)
}

/// A panic inside a closure unwinds through the transaction, which rolls back as it drops: the
/// connection is consistent, so a poisoned mutex is safe to use.
fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

thread_local! {
    /// Stores this thread is inside `read` / `write` of, by address.
    static READING: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
    static WRITING: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Turns a nested `read` in `read` (or `write` in `write`) on one store, which would deadlock on
/// the connection's mutex, into an error.
struct Reentry {
    set: &'static std::thread::LocalKey<RefCell<Vec<usize>>>,
    store: usize,
}

impl Reentry {
    fn enter(
        set: &'static std::thread::LocalKey<RefCell<Vec<usize>>>,
        store: &Store,
        what: &str,
    ) -> Result<Reentry> {
        let store = std::ptr::from_ref(store) as usize;
        set.with_borrow_mut(|v| {
            if v.contains(&store) {
                return Err(Error::NotAllowed(format!(
                    "Store::{what} called inside another {what} on the same thread; use the \
                     StoreTx you were given"
                )));
            }
            v.push(store);
            Ok(())
        })?;
        Ok(Reentry { set, store })
    }
}

impl Drop for Reentry {
    fn drop(&mut self) {
        self.set.with_borrow_mut(|v| v.retain(|s| *s != self.store));
    }
}

#[cfg(test)]
pub(crate) mod tests;
