//! Phones (sync-core device stores) and office users against the real server binary over real
//! HTTP, on SQLite and on PostgreSQL.

use lastmile_e2e::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use sync_core::protocol::device;
use sync_core::protocol::wire::{self, Limits};
use sync_core::workorder::{NewConsumption, Priority};
use sync_core::{LineId, Status};

/// Each scenario runs once per backend.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name(lastmile_e2e::Backend::Sqlite)
            }
            #[test]
            fn postgres() {
                super::$name(lastmile_e2e::Backend::Postgres)
            }
        }
    )*};
}

on_both_backends!(
    offline_edits_by_two_engineers_and_a_dispatcher_converge,
    reassignment_while_offline_loses_nothing,
    refused_field_changes_are_refused_and_reported,
    a_revoked_device_is_cut_off,
    replayed_and_truncated_requests_change_nothing,
    a_new_assignment_reaches_a_waiting_phone_within_a_second,
    a_server_killed_during_a_burst_of_syncs_loses_no_acknowledged_change,
);

fn part(sku: &str) -> NewConsumption {
    NewConsumption {
        sku: sku.into(),
        qty: 1,
        serial: None,
        replaced_serial: None,
    }
}

fn parts_on(doc: &Value) -> Vec<String> {
    doc["visits"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| v["parts"].as_array().unwrap().iter())
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect()
}

fn offline_edits_by_two_engineers_and_a_dispatcher_converge(backend: Backend) {
    let db = TestDb::new(backend);
    let org = setup_org(&db, 2);
    let server = db.serve();
    let office = Office::login(&server.url, &org.dispatcher_email);
    let orders: Vec<_> = (0..4).map(|n| office.create_order(n)).collect();
    for (i, o) in orders.iter().enumerate() {
        office.assign(*o, Some(org.engineers[i / 2].0));
    }
    let phones: Vec<Phone> = org
        .engineers
        .iter()
        .map(|(id, email)| Phone::register(&server.url, *id, email))
        .collect();
    for p in &phones {
        assert_eq!(p.sync().unwrap().received.len(), 2);
    }
    // Offline: engineer 0 completes order 0 with a part; engineer 1 writes notes on order 2;
    // the dispatcher re-prioritises orders 1 and 2.
    phones[0].edit(orders[0], |d, c| {
        let v = d.start_visit(c)?;
        d.check_in(c, &v, None, Some(8.0), false)?;
        d.consume_part(c, &v, &part("CAP-35UF"))?;
        d.set_status(c, Status::Completed)
    });
    phones[1].edit(orders[2], |d, c| {
        let v = d.start_visit(c)?;
        d.set_notes(c, &v, "Coil cleaned")
    });
    for o in [orders[1], orders[2]] {
        let (s, b) = office.call(
            "POST",
            &format!("/api/v1/work-orders/{o}/priority"),
            Some(json!({"priority": "urgent"})),
        );
        assert_eq!(s, 200, "{b}");
    }
    for p in &phones {
        let r = p.sync().unwrap();
        assert_eq!(r.round_trips, 1, "{r:?}");
    }
    let o0 = office.document(orders[0]);
    assert_eq!(o0["status"], "completed");
    assert_eq!(parts_on(&o0).len(), 1);
    let o2 = office.document(orders[2]);
    assert_eq!(o2["visits"][0]["report"]["notes"], "Coil cleaned");
    assert_eq!(o2["header"]["priority"], "urgent");
    // Every phone holds exactly what the server holds.
    for (i, p) in phones.iter().enumerate() {
        for o in &orders[i * 2..i * 2 + 2] {
            let mine = serde_json::to_value(p.store.load(o).unwrap().read().unwrap()).unwrap();
            assert_eq!(mine, office.document(*o), "phone {i} differs on {o}");
        }
    }
    assert_eq!(
        phones[0]
            .store
            .load(&orders[1])
            .unwrap()
            .header()
            .unwrap()
            .priority,
        Priority::Urgent
    );
}

fn reassignment_while_offline_loses_nothing(backend: Backend) {
    let db = TestDb::new(backend);
    let org = setup_org(&db, 2);
    let server = db.serve();
    let office = Office::login(&server.url, &org.dispatcher_email);
    let order = office.create_order(1);
    office.assign(order, Some(org.engineers[0].0));
    let old = Phone::register(&server.url, org.engineers[0].0, &org.engineers[0].1);
    old.sync().unwrap();
    // Re-assigned while the old phone is offline; it records parts anyway.
    office.assign(order, Some(org.engineers[1].0));
    let line = old.edit(order, |d, c| {
        let v = d.start_visit(c)?;
        d.consume_part(c, &v, &part("VALVE-7"))
    });
    let r = old.sync().unwrap();
    assert!(r.evicted.contains(&order), "{r:?}");
    assert!(!old.has(order));
    let doc = office.document(order);
    assert_eq!(parts_on(&doc), vec![line.to_string()]);
    assert!(
        doc["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "work_after_reassignment")
    );
    // The new engineer's phone gets it with the old engineer's work in it.
    let new = Phone::register(&server.url, org.engineers[1].0, &org.engineers[1].1);
    new.sync().unwrap();
    assert_eq!(
        new.store.load(&order).unwrap().read().unwrap().visits[0].parts[0].id,
        line
    );
}

fn refused_field_changes_are_refused_and_reported(backend: Backend) {
    let db = TestDb::new(backend);
    let org = setup_org(&db, 1);
    let server = db.serve();
    let office = Office::login(&server.url, &org.dispatcher_email);
    let order = office.create_order(1);
    office.assign(order, Some(org.engineers[0].0));
    let phone = Phone::register(&server.url, org.engineers[0].0, &org.engineers[0].1);
    phone.sync().unwrap();
    phone.edit(order, |d, c| {
        d.set_priority(c, Priority::Urgent)?; // not an engineer's call
        d.request_parts(c, "PUMP-3", 1, "seal leaking") // fine
    });
    let r = phone.sync().unwrap();
    assert_eq!(r.refusals.len(), 1, "{r:?}");
    assert_eq!(r.refusals[0].1.field, "header.priority");
    let doc = office.document(order);
    assert_eq!(doc["header"]["priority"], "normal");
    assert_eq!(doc["parts_requests"].as_array().unwrap().len(), 1);
    assert!(
        doc["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "refused")
    );
    assert_eq!(
        phone.store.load(&order).unwrap().header().unwrap().priority,
        Priority::Normal
    );
}

fn a_revoked_device_is_cut_off(backend: Backend) {
    let db = TestDb::new(backend);
    let org = setup_org(&db, 1);
    let server = db.serve();
    let office = Office::login(&server.url, &org.dispatcher_email);
    let order = office.create_order(1);
    office.assign(order, Some(org.engineers[0].0));
    let phone = Phone::register(&server.url, org.engineers[0].0, &org.engineers[0].1);
    phone.sync().unwrap();
    let (s, b) = office.call(
        "DELETE",
        &format!("/api/v1/devices/{}", phone.device_id),
        None,
    );
    assert_eq!(s, 204, "{b}");
    match phone.sync() {
        Err(sync_core::Error::NotAllowed(m)) => assert_eq!(m, "401 device_revoked"),
        other => panic!("a revoked device synced: {other:?}"),
    }
}

fn replayed_and_truncated_requests_change_nothing(backend: Backend) {
    let db = TestDb::new(backend);
    let org = setup_org(&db, 1);
    let server = db.serve();
    let office = Office::login(&server.url, &org.dispatcher_email);
    let order = office.create_order(1);
    office.assign(order, Some(org.engineers[0].0));
    let phone = Phone::register(&server.url, org.engineers[0].0, &org.engineers[0].1);
    phone.sync().unwrap();
    phone.edit(order, |d, c| {
        let v = d.start_visit(c)?;
        d.consume_part(c, &v, &part("BELT-2"))
    });
    let req = device::build_request(&phone.store, &Limits::default()).unwrap();
    let bytes = wire::encode_request(&req).unwrap();
    // Cut at many places: each is a 400 with the sync error code, and nothing changes.
    let before = office.document(order);
    for cut in (0..bytes.len()).step_by((bytes.len() / 25).max(1)) {
        match phone.post(&bytes[..cut]) {
            Err(sync_core::Error::NotAllowed(m)) => {
                assert_eq!(m, "400 sync_protocol", "cut at {cut}")
            }
            other => panic!("a request cut at {cut} was taken: {other:?}"),
        }
    }
    assert_eq!(office.document(order), before);
    // The whole request, twice: the line is posted once.
    phone.post(&bytes).unwrap();
    phone.post(&bytes).unwrap();
    assert_eq!(parts_on(&office.document(order)).len(), 1);
    phone.sync().unwrap();
    assert!(phone.store.read(|tx| tx.pending()).unwrap().is_empty());
    assert_eq!(parts_on(&office.document(order)).len(), 1);
}

fn a_new_assignment_reaches_a_waiting_phone_within_a_second(backend: Backend) {
    let db = TestDb::new(backend);
    let org = setup_org(&db, 1);
    let server = db.serve();
    let office = Office::login(&server.url, &org.dispatcher_email);
    let phone = Phone::register(&server.url, org.engineers[0].0, &org.engineers[0].1);
    phone.sync().unwrap();
    let order = office.create_order(1);
    let cursor = phone.cursor();
    // Nothing to wait for yet: the poll times out empty.
    let (changed, _) = phone.wait_for_changes(cursor, 300);
    assert!(!changed);
    let waiting = std::thread::scope(|s| {
        let h = s.spawn(|| phone.wait_for_changes(cursor, 20_000));
        std::thread::sleep(Duration::from_millis(500));
        let assigned_at = Instant::now();
        office.assign(order, Some(org.engineers[0].0));
        let (changed, _) = h.join().unwrap();
        (changed, assigned_at.elapsed())
    });
    assert!(waiting.0);
    assert!(waiting.1 < Duration::from_secs(1), "took {:?}", waiting.1);
    let r = phone.sync().unwrap();
    assert_eq!(r.received, vec![order]);
}

fn a_server_killed_during_a_burst_of_syncs_loses_no_acknowledged_change(backend: Backend) {
    let db = TestDb::new(backend);
    let org = setup_org(&db, 3);
    let mut server = db.serve();
    let office = Office::login(&server.url, &org.dispatcher_email);
    let mut orders = Vec::new();
    for (i, (eng, _)) in org.engineers.iter().enumerate() {
        for n in 0..3 {
            let o = office.create_order((i * 3 + n) as u32);
            office.assign(o, Some(*eng));
            orders.push((i, o));
        }
    }
    let mut phones: Vec<Phone> = org
        .engineers
        .iter()
        .map(|(id, e)| Phone::register(&server.url, *id, e))
        .collect();
    for p in &phones {
        p.sync().unwrap();
    }
    // A burst: every phone edits and syncs in a loop; the server is killed in the middle.
    let mut lines: Vec<Vec<(sync_core::DocId, LineId)>> = vec![Vec::new(); phones.len()];
    std::thread::scope(|s| {
        let handles: Vec<_> = phones
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mine: Vec<_> = orders
                    .iter()
                    .filter(|(e, _)| *e == i)
                    .map(|(_, o)| *o)
                    .collect();
                s.spawn(move || {
                    let mut made = Vec::new();
                    for round in 0..12 {
                        let o = mine[round % mine.len()];
                        let line = p.edit(o, |d, c| {
                            let v = match d.read()?.visits.first() {
                                Some(v) => v.id,
                                None => d.start_visit(c)?,
                            };
                            d.consume_part(c, &v, &part(&format!("SKU-{round}")))
                        });
                        made.push((o, line));
                        let _ = p.sync(); // fails while the server is down: fine
                        std::thread::sleep(Duration::from_millis(30));
                    }
                    made
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(150));
        server.kill();
        for (i, h) in handles.into_iter().enumerate() {
            lines[i] = h.join().unwrap();
        }
    });
    // Restart on the same database; every phone syncs what it still has pending.
    let server = db.serve();
    let office = Office::login(&server.url, &org.dispatcher_email);
    for p in phones.iter_mut() {
        p.use_server(&server.url);
    }
    for p in &phones {
        let r = p.sync().unwrap();
        assert_eq!(r.pending, 0, "{r:?}");
    }
    for (i, made) in lines.iter().enumerate() {
        for (o, line) in made {
            let doc = office.document(*o);
            assert!(
                parts_on(&doc).contains(&line.to_string()),
                "phone {i}: line {line} on {o} lost"
            );
        }
    }
}
