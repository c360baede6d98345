//! The device store through the crate's public API only, as the phone library and the sync
//! protocol use it: one offline day, then a sync's bookkeeping, then eviction.
#![cfg(feature = "store")]

use std::sync::Arc;
use sync_core::workorder::{Asset, Customer, NewWorkOrder, Priority, Site};
use sync_core::{
    DocId, EditContext, Error, Hlc, ListQuery, OrgId, Role, Sort, Status, Store, UserId,
    WorkOrderDoc,
};

fn ctx() -> EditContext {
    EditContext {
        user: UserId::new(),
        role: Role::Dispatcher,
        device_time_ms: 1_700_000_000_000,
        hlc: Hlc::ZERO.tick(1_700_000_000_000, 1),
    }
}

fn order(number: &str, customer: &str) -> NewWorkOrder {
    NewWorkOrder {
        id: DocId::new(),
        org: OrgId::new(),
        number: number.into(),
        customer: Customer {
            id: "C".into(),
            name: customer.into(),
        },
        site: Site {
            address: "88 Harbour Rd".into(),
            lat: 22.28,
            lon: 114.16,
        },
        asset: Asset {
            id: "A".into(),
            model: "Daikin VRV".into(),
            serial: "DK-4410".into(),
        },
        problem: "No cooling on floor 3".into(),
        priority: Priority::Normal,
        sla_due_ms: Some(1_700_050_000_000),
    }
}

#[test]
fn store_carries_an_offline_day_through_a_sync_and_eviction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lastmile.db");
    let a = order("WO-100", "Harbour Hotel");
    let b = order("WO-101", "Kowloon Bakery");
    {
        let store = Arc::new(Store::open(&path).unwrap());
        // Orders arrive from the server...
        for new in [&a, &b] {
            let mut doc = WorkOrderDoc::create(&sync_core::ActorId::random(), new, &ctx()).unwrap();
            store.write(|tx| tx.persist(&mut doc, false)).unwrap();
        }
        // ...and the engineer works on one, from another thread.
        let s = Arc::clone(&store);
        let id = a.id;
        std::thread::spawn(move || {
            s.edit(&id, |d| d.set_priority(&ctx(), Priority::Urgent))
                .unwrap()
        })
        .join()
        .unwrap();
    }

    let store = Store::open(&path).unwrap();
    let q = ListQuery {
        sort: Sort::Priority,
        ..Default::default()
    };
    let listed = store.list(&q).unwrap();
    assert_eq!(listed[0].number, "WO-100");
    assert_eq!(store.search("bakery", 10).unwrap()[0].number, "WO-101");

    // The sync's device half: push what is pending, record the acknowledgement, move on.
    let pushed = store
        .write(|tx| {
            let pending = tx.pending()?;
            let mut out = Vec::new();
            for id in &pending {
                let mut doc = tx.load(id)?;
                let since = tx.server_heads(id)?;
                out.push((*id, doc.save_after(&since), doc.heads()));
            }
            Ok(out)
        })
        .unwrap();
    assert_eq!(pushed.len(), 1);
    let (id, bytes, heads) = &pushed[0];
    assert!(!bytes.is_empty());
    store
        .write(|tx| {
            tx.set_server_heads(id, heads)?;
            tx.set_pending(id, false)?;
            tx.set_cursor(17)
        })
        .unwrap();
    assert!(store.read(|tx| tx.pending()).unwrap().is_empty());
    assert_eq!(store.read(|tx| tx.cursor()).unwrap(), 17);

    // Leaving scope: acknowledged, so it may go.
    store.write(|tx| tx.evict(&b.id)).unwrap();
    assert!(matches!(store.load(&b.id), Err(Error::NotFound(_))));
    let statuses = ListQuery {
        status: Some(vec![Status::New]),
        ..Default::default()
    };
    assert_eq!(store.list(&statuses).unwrap().len(), 1);
}
