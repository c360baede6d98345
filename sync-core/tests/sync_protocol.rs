//! The batch sync protocol end to end: device stores (real SQLite) against the in-memory server
//! built from the server half, over a function-call transport that can lose or cut messages.

mod common;
use common::*;
use sync_core::protocol::device::{self, Progress, SyncReport};
use sync_core::protocol::memory::MemoryServer;
use sync_core::protocol::reference::CatalogItem;
use sync_core::protocol::{self, AckError, Limits};
use sync_core::rules::authority::Sender;
use sync_core::workorder::{NewConsumption, Priority};
use sync_core::{DocId, Error, ListQuery, OrgId, Role, Status, Store, UserId};

struct Phone {
    store: Store,
    _dir: tempfile::TempDir,
    sender: Sender,
    name: String,
}

fn phone(engineer: UserId, name: &str) -> Phone {
    let dir = tempfile::tempdir().unwrap();
    Phone {
        store: Store::open(dir.path().join("device.db")).unwrap(),
        _dir: dir,
        sender: Sender {
            user: engineer,
            role: Role::Engineer,
        },
        name: name.into(),
    }
}

fn sync(server: &mut MemoryServer, p: &Phone) -> SyncReport {
    let limits = server.limits;
    device::sync(
        &p.store,
        &limits,
        20,
        &mut |req| server.handle(&p.name, p.sender, req),
        &mut |_| {},
    )
    .unwrap()
}

fn setup(orders: u32, assigned: u32) -> (MemoryServer, UserId, UserId, Vec<DocId>) {
    let mut server = MemoryServer::new(OrgId::new());
    let dispatcher = UserId::new();
    let engineer = UserId::new();
    let org = server.org;
    let mut ids = Vec::new();
    for n in 0..orders {
        let id = server.create(&new_order(org, n), dispatcher).unwrap();
        if n < assigned {
            server
                .edit(&id, dispatcher, Role::Dispatcher, |d, c| {
                    d.assign(c, Some(engineer))?;
                    d.set_status(c, Status::Assigned)
                })
                .unwrap();
        }
        ids.push(id);
    }
    (server, dispatcher, engineer, ids)
}

fn edit_as(
    p: &Phone,
    id: &DocId,
    t: i64,
    f: impl FnOnce(&mut sync_core::WorkOrderDoc, &sync_core::EditContext) -> sync_core::Result<()>,
) {
    let c = ctx(p.sender.user, Role::Engineer, t);
    p.store.edit(id, |d| f(d, &c)).unwrap();
}

fn heads_equal(server: &MemoryServer, p: &Phone, id: &DocId) -> bool {
    let mut a = server.doc(id).unwrap().clone();
    let mut b = p.store.load(id).unwrap();
    let (mut ha, mut hb) = (a.heads(), b.heads());
    ha.sort();
    hb.sort();
    ha == hb
}

#[test]
fn first_sync_delivers_exactly_the_assigned_orders_then_idle_sync_is_one_small_round_trip() {
    let (mut server, _, eng, ids) = setup(10, 4);
    let p = phone(eng, "phone-1");
    let first = sync(&mut server, &p);
    assert_eq!(first.received.len(), 4);
    let mut have = p.store.read(|tx| tx.doc_ids()).unwrap();
    have.sort();
    let mut want = ids[..4].to_vec();
    want.sort();
    assert_eq!(have, want);
    for id in &want {
        assert!(heads_equal(&server, &p, id));
    }
    let idle = sync(&mut server, &p);
    assert_eq!(idle.round_trips, 1);
    assert!(idle.received.is_empty() && idle.sent.is_empty());
    assert!(
        idle.bytes_up + idle.bytes_down < 1024,
        "idle sync took {} bytes",
        idle.bytes_up + idle.bytes_down
    );
}

#[test]
fn offline_edits_and_office_edits_converge_in_one_round_trip() {
    let (mut server, disp, eng, ids) = setup(6, 6);
    let p = phone(eng, "phone-1");
    sync(&mut server, &p);
    // Offline: the engineer works on three orders; the dispatcher re-prioritises another and
    // one of the three.
    for (i, id) in ids[..3].iter().enumerate() {
        edit_as(&p, id, 10_000 + i as i64, |d, c| {
            let v = d.start_visit(c)?;
            d.check_in(c, &v, None, None, false)?;
            d.consume_part(
                c,
                &v,
                &NewConsumption {
                    sku: "FAN-12".into(),
                    qty: 1,
                    serial: None,
                    replaced_serial: None,
                },
            )?;
            d.set_notes(c, &v, "Fan replaced")?;
            Ok(())
        });
    }
    for id in [&ids[2], &ids[4]] {
        server
            .edit(id, disp, Role::Dispatcher, |d, c| {
                d.set_priority(c, Priority::Urgent)
            })
            .unwrap();
    }
    let report = sync(&mut server, &p);
    assert_eq!(report.round_trips, 1, "{report:?}");
    assert_eq!(report.sent.len(), 3);
    for id in &ids {
        assert!(heads_equal(&server, &p, id), "order {id} diverged");
    }
    assert_eq!(
        p.store.load(&ids[2]).unwrap().header().unwrap().priority,
        Priority::Urgent
    );
    let on_server = server.doc(&ids[0]).unwrap().read().unwrap();
    assert_eq!(on_server.visits[0].parts.len(), 1);
    assert_eq!(on_server.status, Status::OnSite);
    assert!(p.store.read(|tx| tx.pending()).unwrap().is_empty());
}

#[test]
fn a_refused_field_change_is_reverted_flagged_and_reported_while_the_rest_applies() {
    let (mut server, _, eng, ids) = setup(1, 1);
    let p = phone(eng, "phone-1");
    sync(&mut server, &p);
    let id = ids[0];
    edit_as(&p, &id, 10_000, |d, c| {
        d.set_priority(c, Priority::Urgent)?; // engineers may not
        d.request_parts(c, "PUMP-3", 1, "seal leaking") // engineers may
            .map(|_| ())
    });
    let report = sync(&mut server, &p);
    assert_eq!(report.refusals.len(), 1, "{report:?}");
    assert_eq!(report.refusals[0].1.field, "header.priority");
    let server_doc = server.doc(&id).unwrap().read().unwrap();
    assert_eq!(server_doc.header.priority, Priority::Normal);
    assert_eq!(server_doc.parts_requests.len(), 1);
    assert!(
        server_doc
            .flags
            .iter()
            .any(|f| f.kind == "refused" && f.field == "header.priority")
    );
    // The phone got the compensation in the same round trip.
    assert_eq!(
        p.store.load(&id).unwrap().header().unwrap().priority,
        Priority::Normal
    );
    assert!(heads_equal(&server, &p, &id));
}

#[test]
fn reassigned_order_keeps_offline_edits_then_leaves_the_device() {
    let (mut server, disp, eng, ids) = setup(2, 2);
    let p = phone(eng, "phone-1");
    sync(&mut server, &p);
    let id = ids[0];
    // While the phone is offline the dispatcher gives the order to someone else ...
    let other = UserId::new();
    server
        .edit(&id, disp, Role::Dispatcher, |d, c| d.assign(c, Some(other)))
        .unwrap();
    // ... and the engineer, not knowing, records parts on it.
    edit_as(&p, &id, 20_000, |d, c| {
        let v = d.start_visit(c)?;
        d.consume_part(
            c,
            &v,
            &NewConsumption {
                sku: "VALVE-7".into(),
                qty: 2,
                serial: None,
                replaced_serial: None,
            },
        )?;
        Ok(())
    });
    let report = sync(&mut server, &p);
    let doc = server.doc(&id).unwrap().read().unwrap();
    assert_eq!(doc.visits.len(), 1);
    assert_eq!(doc.visits[0].parts[0].sku, "VALVE-7");
    assert!(
        doc.flags
            .iter()
            .any(|f| f.kind == "work_after_reassignment")
    );
    assert_eq!(
        doc.dispatch.assignee,
        Some(other),
        "the re-assignment stands"
    );
    assert!(report.evicted.contains(&id), "{report:?}");
    assert!(!p.store.read(|tx| tx.contains(&id)).unwrap());
    assert!(p.store.read(|tx| tx.contains(&ids[1])).unwrap());
}

#[test]
fn pending_changes_are_never_evicted() {
    let (mut server, disp, eng, ids) = setup(1, 1);
    let p = phone(eng, "phone-1");
    sync(&mut server, &p);
    let id = ids[0];
    server
        .edit(&id, disp, Role::Dispatcher, |d, c| d.assign(c, None))
        .unwrap();
    // Build a request before the edit, so the response's eviction meets a pending document.
    let limits = Limits::default();
    let req = device::build_request(&p.store, &limits).unwrap();
    edit_as(&p, &id, 30_000, |d, c| d.start_visit(c).map(|_| ()));
    let resp = server
        .handle(&p.name, p.sender, &protocol::encode_request(&req).unwrap())
        .unwrap();
    let mut report = SyncReport::default();
    device::apply_response(&p.store, &req, &resp, &limits, &mut report).unwrap();
    assert!(report.evicted.is_empty());
    assert!(p.store.read(|tx| tx.contains(&id)).unwrap());
    // The next sync pushes the visit, then evicts.
    let report = sync(&mut server, &p);
    assert!(report.evicted.contains(&id));
    assert_eq!(server.doc(&id).unwrap().read().unwrap().visits.len(), 1);
}

#[test]
fn a_lost_response_is_resent_and_nothing_is_applied_twice() {
    let (mut server, _, eng, ids) = setup(3, 3);
    let p = phone(eng, "phone-1");
    sync(&mut server, &p);
    let id = ids[1];
    edit_as(&p, &id, 40_000, |d, c| {
        let v = d.start_visit(c)?;
        d.consume_part(
            c,
            &v,
            &NewConsumption {
                sku: "BELT-2".into(),
                qty: 1,
                serial: None,
                replaced_serial: None,
            },
        )?;
        Ok(())
    });
    let limits = server.limits;
    // The server processes the request but the response never arrives.
    let err = device::sync(
        &p.store,
        &limits,
        5,
        &mut |req| {
            server.handle(&p.name, p.sender, req)?;
            Err(Error::Protocol("connection reset".into()))
        },
        &mut |_| {},
    );
    assert!(err.is_err());
    assert_eq!(p.store.read(|tx| tx.pending()).unwrap(), vec![id]);
    // Replay: same changes again; the server applies them once.
    sync(&mut server, &p);
    let doc = server.doc(&id).unwrap().read().unwrap();
    assert_eq!(doc.visits.len(), 1);
    assert_eq!(doc.visits[0].parts.len(), 1);
    assert!(heads_equal(&server, &p, &id));
    assert!(p.store.read(|tx| tx.pending()).unwrap().is_empty());
}

#[test]
fn a_response_cut_at_any_byte_changes_nothing_on_the_device() {
    let (mut server, disp, eng, ids) = setup(3, 3);
    let p = phone(eng, "phone-1");
    sync(&mut server, &p);
    server
        .edit(&ids[0], disp, Role::Dispatcher, |d, c| {
            d.set_priority(c, Priority::High)
        })
        .unwrap();
    edit_as(&p, &ids[1], 50_000, |d, c| d.start_visit(c).map(|_| ()));
    let limits = Limits::default();
    let req = device::build_request(&p.store, &limits).unwrap();
    let full = server
        .handle(&p.name, p.sender, &protocol::encode_request(&req).unwrap())
        .unwrap();
    let before_cursor = p.store.read(|tx| tx.cursor()).unwrap();
    let before_heads: Vec<_> = ids
        .iter()
        .map(|id| p.store.load(id).unwrap().heads())
        .collect();
    for cut in (0..full.len()).step_by((full.len() / 40).max(1)) {
        let mut report = SyncReport::default();
        let r = device::apply_response(&p.store, &req, &full[..cut], &limits, &mut report);
        assert!(
            r.is_err(),
            "a response cut at {cut} of {} was accepted",
            full.len()
        );
        assert_eq!(p.store.read(|tx| tx.cursor()).unwrap(), before_cursor);
        let heads: Vec<_> = ids
            .iter()
            .map(|id| p.store.load(id).unwrap().heads())
            .collect();
        assert_eq!(heads, before_heads);
        assert_eq!(p.store.read(|tx| tx.pending()).unwrap(), vec![ids[1]]);
    }
    // And the whole thing still converges afterwards.
    sync(&mut server, &p);
    for id in &ids {
        assert!(heads_equal(&server, &p, id));
    }
}

#[test]
fn a_large_first_sync_pages_reports_progress_and_resumes_after_a_cut() {
    let (mut server, _, eng, _) = setup(60, 60);
    server.limits.page_bytes = 4_000; // a few documents per page
    let p = phone(eng, "phone-1");
    let limits = server.limits;
    let mut seen: Vec<Progress> = Vec::new();
    let mut calls = 0;
    // The connection drops on the third request.
    let r = device::sync(
        &p.store,
        &limits,
        100,
        &mut |req| {
            calls += 1;
            if calls == 3 {
                return Err(Error::Protocol("signal lost".into()));
            }
            server.handle(&p.name, p.sender, req)
        },
        &mut |pr| seen.push(pr),
    );
    assert!(r.is_err());
    let after_cut = p.store.read(|tx| tx.doc_ids()).unwrap().len();
    assert!(
        after_cut > 0 && after_cut < 60,
        "kept the pages applied before the cut: {after_cut}"
    );
    assert_eq!(seen[0].docs_total, 60);
    assert!(seen[1].docs_done > seen[0].docs_done);
    let report = device::sync(
        &p.store,
        &limits,
        100,
        &mut |req| server.handle(&p.name, p.sender, req),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(
        report.received.len() + after_cut,
        60,
        "resumed where it stopped"
    );
    assert_eq!(p.store.list(&ListQuery::default()).unwrap().len(), 60);
}

#[test]
fn bad_requests_get_a_protocol_error_and_change_nothing_on_the_server() {
    let (mut server, _, eng, ids) = setup(2, 2);
    let p = phone(eng, "phone-1");
    sync(&mut server, &p);
    edit_as(&p, &ids[0], 60_000, |d, c| d.start_visit(c).map(|_| ()));
    let req = device::build_request(&p.store, &Limits::default()).unwrap();
    let good = protocol::encode_request(&req).unwrap();
    let seq = server.seq();
    let mut wrong_version = good.clone();
    wrong_version[5] = 99;
    let mut corrupt = good.clone();
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0xff;
    let mut oversized = good.clone();
    oversized.resize(server.limits.max_message_bytes + 1, 0);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("truncated", good[..good.len() - 3].to_vec()),
        ("wrong version", wrong_version),
        ("trailing bytes", [good.clone(), vec![0]].concat()),
        ("oversized", oversized),
        (
            "random",
            (0..200u32).map(|i| (i * 7919 % 251) as u8).collect(),
        ),
    ];
    for (what, bytes) in cases {
        match server.handle(&p.name, p.sender, &bytes) {
            Err(Error::Protocol(msg)) => assert!(!msg.is_empty(), "{what}"),
            other => panic!(
                "{what}: expected a protocol error, got {:?}",
                other.map(|b| b.len())
            ),
        }
        assert_eq!(server.seq(), seq, "{what} changed the server");
    }
    // A flipped byte inside the payload either fails to parse or fails the Automerge checksum:
    // either way the document is not merged.
    if let Ok(resp) = server.handle(&p.name, p.sender, &corrupt) {
        let resp = protocol::decode_response(&resp, &Limits::default()).unwrap();
        assert!(
            resp.acks.iter().all(|a| a.error.is_some()),
            "corrupt changes were merged"
        );
    }
    assert_eq!(server.seq(), seq);
}

#[test]
fn an_order_from_another_organisation_is_not_taken() {
    let (mut server, _, eng, _) = setup(1, 1);
    let p = phone(eng, "phone-1");
    sync(&mut server, &p);
    // A document the device forged locally (not from the server, other org).
    let mut doc = sync_core::WorkOrderDoc::create(
        p.store.actor(),
        &new_order(OrgId::new(), 9),
        &ctx(eng, Role::Engineer, 1),
    )
    .unwrap();
    p.store.insert_local(&mut doc).unwrap();
    let report = sync(&mut server, &p);
    assert_eq!(
        report.rejected,
        vec![(doc.id().unwrap(), AckError::NotAllowed)]
    );
    assert!(server.doc(&doc.id().unwrap()).is_none());
}

#[test]
fn offline_completion_against_a_concurrent_cancel_is_a_flagged_conflict_not_a_refusal() {
    let (mut server, disp, eng, ids) = setup(1, 1);
    let p = phone(eng, "phone-1");
    sync(&mut server, &p);
    let id = ids[0];
    // Offline: assigned -> on site -> completed on the phone, several steps in one sync.
    edit_as(&p, &id, 70_000, |d, c| {
        let v = d.start_visit(c)?;
        d.check_in(c, &v, None, None, false)?;
        d.set_status(c, Status::Completed)
    });
    server
        .edit(&id, disp, Role::Dispatcher, |d, c| {
            d.set_status(c, Status::Cancelled)
        })
        .unwrap();
    let report = sync(&mut server, &p);
    assert!(report.refusals.is_empty(), "{report:?}");
    assert_eq!(report.conflicts, vec![(id, "status".to_string())]);
    let order = server.doc(&id).unwrap().read().unwrap();
    assert_eq!(order.status, Status::Completed);
    assert!(
        order
            .flags
            .iter()
            .any(|f| f.kind == "conflict" && f.field == "status")
    );
    assert!(heads_equal(&server, &p, &id));
}

#[test]
fn an_engineer_cannot_reopen_a_cancelled_order() {
    let (mut server, disp, eng, ids) = setup(1, 1);
    let id = ids[0];
    server
        .edit(&id, disp, Role::Dispatcher, |d, c| {
            d.set_status(c, Status::Cancelled)
        })
        .unwrap();
    let p = phone(eng, "phone-1");
    sync(&mut server, &p);
    // The typed API refuses it on the phone already ...
    let c = ctx(eng, Role::Engineer, 80_000);
    assert!(
        p.store
            .edit(&id, |d| d.set_status(&c, Status::OnSite))
            .is_err()
    );
    // ... and a phone that bypassed it (an engineer acting with an office role locally) is
    // refused by the server, which judges the sender's real role.
    let forged = ctx(eng, Role::Dispatcher, 80_001);
    p.store
        .edit(&id, |d| d.set_status(&forged, Status::New))
        .unwrap();
    let report = sync(&mut server, &p);
    assert_eq!(report.refusals.len(), 1, "{report:?}");
    assert_eq!(report.refusals[0].1.field, "status");
    assert_eq!(server.doc(&id).unwrap().status(), Status::Cancelled);
    assert_eq!(p.store.load(&id).unwrap().status(), Status::Cancelled);
}

#[test]
fn the_device_clock_orders_its_events_after_everything_it_received_even_when_its_wall_clock_is_behind()
 {
    let (mut server, _, eng, ids) = setup(1, 1);
    let p = phone(eng, "phone-1");
    sync(&mut server, &p);
    let newest_received = p
        .store
        .load(&ids[0])
        .unwrap()
        .events()
        .unwrap()
        .last()
        .unwrap()
        .hlc;
    // The phone's wall clock is a year behind the server's.
    let c = p
        .store
        .context(eng, Role::Engineer, 1_700_000_000_000)
        .unwrap();
    assert!(
        c.hlc > newest_received,
        "{:?} <= {:?}",
        c.hlc,
        newest_received
    );
    assert_eq!(
        c.device_time_ms, 1_700_000_000_000,
        "device time is kept for display"
    );
    p.store
        .edit(&ids[0], |d| d.start_visit(&c).map(|_| ()))
        .unwrap();
    let events = p.store.load(&ids[0]).unwrap().events().unwrap();
    assert_eq!(
        events.last().unwrap().kind,
        "visit_started",
        "ordered causally, not by device time"
    );
    // And the clock never goes backwards, across restarts too.
    let again = p
        .store
        .context(eng, Role::Engineer, 1_600_000_000_000)
        .unwrap();
    assert!(again.hlc > c.hlc);
}

fn item(sku: &str, name: &str, serial_tracked: bool) -> CatalogItem {
    CatalogItem {
        sku: sku.into(),
        name: name.into(),
        description: format!("{name} for chillers"),
        unit: "pcs".into(),
        unit_cost_minor: 12_500,
        category: "HVAC".into(),
        serial_tracked,
        compatible_models: vec!["Chiller X200".into()],
        deleted: false,
    }
}

#[test]
fn catalog_and_van_stock_arrive_with_sync_and_the_van_counts_offline_use() {
    use sync_core::protocol::reference::VanStockLine;
    let (mut server, _, eng, ids) = setup(1, 1);
    server.put_catalog_item(item("CAP-35UF", "Start capacitor 35 µF", false));
    server.put_catalog_item(item("COMP-X2", "Scroll compressor", true));
    server.put_catalog_item(item("FAN-12", "Condenser fan motor", false));
    server.set_van(
        eng,
        vec![
            VanStockLine {
                sku: "CAP-35UF".into(),
                qty: 5,
                serials: vec![],
            },
            VanStockLine {
                sku: "COMP-X2".into(),
                qty: 2,
                serials: vec!["C-1".into(), "C-2".into()],
            },
        ],
    );
    let p = phone(eng, "phone-1");
    sync(&mut server, &p);
    // Offline: search the catalog, consume from the van.
    let found = p.store.search_catalog("capaci", 10).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].sku, "CAP-35UF");
    assert_eq!(
        p.store.search_catalog("compressor", 10).unwrap()[0].sku,
        "COMP-X2"
    );
    assert_eq!(p.store.search_catalog("", 0).unwrap().len(), 3);
    edit_as(&p, &ids[0], 90_000, |d, c| {
        let v = d.start_visit(c)?;
        d.consume_part(
            c,
            &v,
            &NewConsumption {
                sku: "CAP-35UF".into(),
                qty: 2,
                serial: None,
                replaced_serial: None,
            },
        )?;
        d.consume_part(
            c,
            &v,
            &NewConsumption {
                sku: "COMP-X2".into(),
                qty: 1,
                serial: Some("C-1".into()),
                replaced_serial: Some("OLD-9".into()),
            },
        )?;
        Ok(())
    });
    let van = p.store.van_stock().unwrap();
    let cap = van.iter().find(|s| s.sku == "CAP-35UF").unwrap();
    assert_eq!((cap.server_qty, cap.pending_use, cap.available), (5, 2, 3));
    let comp = van.iter().find(|s| s.sku == "COMP-X2").unwrap();
    assert_eq!(comp.available, 1);
    assert_eq!(comp.serials, vec!["C-2".to_string()]);
    // After the sync the server's ledger has the use (here: set by hand) and nothing is pending.
    server.set_van(
        eng,
        vec![VanStockLine {
            sku: "CAP-35UF".into(),
            qty: 3,
            serials: vec![],
        }],
    );
    sync(&mut server, &p);
    let van = p.store.van_stock().unwrap();
    assert_eq!(van.len(), 1);
    assert_eq!(
        (van[0].server_qty, van[0].pending_use, van[0].available),
        (3, 0, 3)
    );
    // A withdrawn item disappears; an idle sync carries no reference data.
    let mut gone = item("FAN-12", "Condenser fan motor", false);
    gone.deleted = true;
    server.put_catalog_item(gone);
    sync(&mut server, &p);
    assert_eq!(p.store.search_catalog("", 0).unwrap().len(), 2);
    let idle = sync(&mut server, &p);
    assert!(idle.bytes_up + idle.bytes_down < 200, "{idle:?}");
}

/// `merge_push` says what a push touched, so the server posts parts consumption only for pushes
/// that touched consumption lines, parts requests or the status.
#[test]
fn a_merged_push_reports_what_it_touched() {
    use sync_core::protocol::server::merge_push;
    use sync_core::protocol::wire::{DocPush, to_wire};
    use sync_core::{ActorId, WorkOrderDoc};

    let dispatcher = UserId::new();
    let engineer = UserId::new();
    let d = |ms| ctx(dispatcher, Role::Dispatcher, ms);
    let mut server =
        WorkOrderDoc::create(&ActorId::random(), &new_order(OrgId::new(), 1), &d(1_000)).unwrap();
    server.assign(&d(1_100), Some(engineer)).unwrap();
    server.set_status(&d(1_200), Status::Assigned).unwrap();
    let mut phone = replica(&mut server);
    let sender = Sender {
        user: engineer,
        role: Role::Engineer,
    };
    let system = ctx(UserId::new(), Role::System, 9_000);
    let e = |ms| ctx(engineer, Role::Engineer, ms);
    let push = |server: &mut WorkOrderDoc, phone: &mut WorkOrderDoc| {
        let base = server.heads();
        let push = DocPush {
            id: phone.id().unwrap(),
            base: to_wire(&base),
            heads: to_wire(&phone.heads()),
            changes: phone.save_after(&base),
        };
        let out = merge_push(
            Some(server.clone()),
            &push,
            sender,
            &ActorId::random(),
            &system,
        );
        assert!(
            out.ack.error.is_none() && out.ack.refusals.is_empty(),
            "{:?}",
            out.ack
        );
        *server = out.doc.expect("merged");
        out.touched
    };

    // A new visit brings its (empty) parts list: that counts as touching consumption.
    let v = phone.start_visit(&e(2_000)).unwrap();
    let touched = push(&mut server, &mut phone);
    assert!(touched.inventory(), "{touched:?}");

    phone
        .set_notes(&e(2_100), &v, "Relay chatter at start")
        .unwrap();
    let touched = push(&mut server, &mut phone);
    assert!(touched.under(&["visits", "*", "report"]));
    assert!(
        !touched.inventory(),
        "notes do not concern the parts ledger: {touched:?}"
    );

    let line = NewConsumption {
        sku: "RELAY-24V".into(),
        qty: 1,
        serial: None,
        replaced_serial: None,
    };
    phone.consume_part(&e(3_000), &v, &line).unwrap();
    let touched = push(&mut server, &mut phone);
    assert!(
        touched.inventory(),
        "a consumption line is for the ledger: {touched:?}"
    );

    phone.set_status(&e(4_000), Status::EnRoute).unwrap();
    let touched = push(&mut server, &mut phone);
    assert!(
        touched.inventory(),
        "a status change may release reservations: {touched:?}"
    );
}
