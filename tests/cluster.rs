//! Several server nodes on one PostgreSQL: live push crosses nodes (LISTEN/NOTIFY).

use lastmile_e2e::*;
use std::time::{Duration, Instant};

#[test]
fn an_assignment_made_on_node_a_reaches_a_phone_waiting_on_node_b_within_a_second() {
    let db = TestDb::new(Backend::Postgres);
    let org = setup_org(&db, 1);
    let node_a = db.serve();
    let node_b = db.serve();
    let office = Office::login(&node_a.url, &org.dispatcher_email);
    let phone = Phone::register(&node_b.url, org.engineers[0].0, &org.engineers[0].1);
    phone.sync().unwrap();
    let order = office.create_order(7);
    let cursor = phone.cursor();
    let (changed, elapsed) = std::thread::scope(|s| {
        let h = s.spawn(|| phone.wait_for_changes(cursor, 20_000));
        std::thread::sleep(Duration::from_millis(500)); // the poll is waiting on node B
        let t = Instant::now();
        office.assign(order, Some(org.engineers[0].0));
        let (changed, _) = h.join().unwrap();
        (changed, t.elapsed())
    });
    assert!(changed);
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
    // And the phone, syncing through node B, gets the order made on node A.
    assert_eq!(phone.sync().unwrap().received, vec![order]);
}
