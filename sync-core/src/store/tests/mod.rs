//! Tests of the device store. Helpers here; behaviour by concern in the submodules.

mod lifecycle;
mod listing;
mod migration;

use super::Store;
use crate::workorder::{Asset, Customer, NewWorkOrder, Priority, Site};
use crate::{ActorId, DocId, EditContext, Hlc, OrgId, Role, UserId, WorkOrderDoc};
use std::path::{Path, PathBuf};

/// A temporary directory holding one store file.
pub(super) struct TempStore {
    pub dir: tempfile::TempDir,
}

impl TempStore {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("store.db")
    }

    pub fn open(&self) -> Store {
        Store::open(self.path()).unwrap()
    }
}

pub(crate) fn ctx(role: Role) -> EditContext {
    EditContext {
        user: UserId::new(),
        role,
        device_time_ms: 1_700_000_000_000,
        hlc: Hlc::ZERO.tick(1_700_000_000_000, 1),
    }
}

pub(crate) fn office() -> EditContext {
    ctx(Role::Dispatcher)
}

pub(crate) fn new_order(number: &str) -> NewWorkOrder {
    NewWorkOrder {
        id: DocId::new(),
        org: OrgId::new(),
        number: number.into(),
        customer: Customer {
            id: "C-1".into(),
            name: "Acme Cold Storage".into(),
        },
        site: Site {
            address: "1 Dock Rd".into(),
            lat: 31.23,
            lon: 121.47,
        },
        asset: Asset {
            id: "A-1".into(),
            model: "Chiller X200".into(),
            serial: "SN-0001".into(),
        },
        problem: "Compressor trips after 10 minutes".into(),
        priority: Priority::Normal,
        sla_due_ms: None,
    }
}

/// A new document as created on some device.
pub(crate) fn create(new: &NewWorkOrder) -> WorkOrderDoc {
    WorkOrderDoc::create(&ActorId::random(), new, &office()).unwrap()
}

/// How many change chunks the store keeps for `id`.
pub(super) fn chunk_count(store: &Store, id: &DocId) -> i64 {
    store
        .read(|tx| {
            Ok(tx.conn().query_row(
                "SELECT count(*) FROM chunks JOIN docs USING (doc) WHERE docs.id = ?1",
                [id.to_string()],
                |r| r.get(0),
            )?)
        })
        .unwrap()
}

/// Run raw SQL against the store file from a separate connection (to damage it on purpose).
pub(super) fn raw_sql(path: &Path, sql: &str, params: impl rusqlite::Params) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute(sql, params).unwrap();
}

#[test]
fn store_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
}
