//! Opening a store written by an older build: the frozen version-1 schema, with rows.

use super::*;
use crate::store::schema::{self, VERSION, schema_of};
use crate::store::tx::encode_heads;
use crate::store::{ListQuery, query};
use crate::workorder::Priority;
use crate::{Error, Status};
use rusqlite::{Connection, params};

/// Build a version-1 database at `path` holding `docs` (the first one pending upload), with
/// SQL written against the frozen schema only, as a version-1 build would have left it.
fn v1_database(path: &Path, actor: &ActorId, docs: &mut [WorkOrderDoc]) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(schema::V1).unwrap();
    conn.pragma_update(None, "user_version", 1).unwrap();
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('store.actor', ?1)",
        [actor.to_bytes()],
    )
    .unwrap();
    for (i, doc) in docs.iter_mut().enumerate() {
        let key = i as i64 + 1;
        let mut heads = doc.heads();
        heads.sort();
        let s = doc.summary().unwrap();
        let model = doc.header().unwrap().asset.model;
        conn.execute(
            "INSERT INTO docs (doc, id, snapshot, heads) VALUES (?1, ?2, ?3, ?4)",
            params![key, s.id.to_string(), doc.save(), encode_heads(&heads)],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO sync_state (doc, pending) VALUES (?1, ?2)",
            params![key, i == 0],
        )
        .unwrap();
        let (lat, lon) = (s.lat.to_radians(), s.lon.to_radians());
        conn.execute(
            "INSERT INTO orders (doc, status, priority_rank, assignee, window_start_ms,
                 window_end_ms, sla_due_ms, lat, lon, x, y, z, number, customer_name,
                 site_address, asset_serial, asset_model, problem, summary)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                 ?17, ?18, ?19)",
            params![
                key,
                s.status.as_str(),
                s.priority.rank(),
                s.assignee.map(|u| u.to_string()),
                s.window_start_ms,
                s.window_end_ms,
                s.sla_due_ms,
                s.lat,
                s.lon,
                lat.cos() * lon.cos(),
                lat.cos() * lon.sin(),
                lat.sin(),
                s.number,
                s.customer_name,
                s.site_address,
                s.asset_serial,
                model,
                s.problem,
                serde_json::to_string(&s).unwrap(),
            ],
        )
        .unwrap();
    }
}

fn two_orders() -> (Vec<NewWorkOrder>, Vec<WorkOrderDoc>) {
    let mut a = new_order("WO-OLD-1");
    a.customer.name = "Globex Freezers".into();
    let mut b = new_order("WO-OLD-2");
    b.asset.serial = "ZX-99812".into();
    b.priority = Priority::Urgent;
    let mut docs = vec![create(&a), create(&b)];
    docs[1].set_status(&office(), Status::Assigned).unwrap();
    (vec![a, b], docs)
}

#[test]
fn opening_a_v1_store_upgrades_it_to_the_fresh_schema_and_its_rows_become_searchable() {
    let old = TempStore::new();
    let actor = ActorId::random();
    let (news, mut docs) = two_orders();
    v1_database(&old.path(), &actor, &mut docs);

    let store = old.open();
    let fresh = TempStore::new();
    drop(fresh.open());

    // (a) exactly the schema a fresh install gets, at the current version.
    let upgraded = Connection::open(old.path()).unwrap();
    let created = Connection::open(fresh.path()).unwrap();
    assert_eq!(schema_of(&upgraded), schema_of(&created));
    let v: u32 = upgraded
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, VERSION);

    // (b) the old rows are searchable, and everything else survived.
    let found = |text| -> Vec<String> {
        store
            .search(text, 10)
            .unwrap()
            .into_iter()
            .map(|s| s.number)
            .collect()
    };
    assert_eq!(found("globex"), ["WO-OLD-1"]);
    assert_eq!(found("99812"), ["WO-OLD-2"]);
    assert_eq!(found("Chiller X200").len(), 2);
    assert_eq!(store.actor(), &actor);
    assert_eq!(store.read(|tx| tx.pending()).unwrap(), vec![news[0].id]);
    let listed = store
        .list(&ListQuery {
            sort: crate::store::Sort::Priority,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(listed[0].number, "WO-OLD-2");
    for (new, doc) in news.iter().zip(docs.iter_mut()) {
        assert_eq!(store.load(&new.id).unwrap().heads(), doc.heads());
    }
    // The upgraded store keeps working: an edit shows up in search and listings.
    store
        .edit(&news[1].id, |d| d.set_priority(&office(), Priority::Low))
        .unwrap();
    assert_eq!(found("99812"), ["WO-OLD-2"]);
}

#[test]
fn the_v2_step_backfills_the_search_index_from_existing_rows() {
    // The schema step alone (no document is loaded), so the rows can only be found through the
    // rebuild the step runs.
    let old = TempStore::new();
    let (_, mut docs) = two_orders();
    v1_database(&old.path(), &ActorId::random(), &mut docs);
    let mut conn = Connection::open(old.path()).unwrap();
    schema::migrate(&mut conn).unwrap();
    let found = query::search(&conn, "globex", 10).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].number, "WO-OLD-1");
    let integrity: rusqlite::Result<usize> = conn.execute(
        "INSERT INTO orders_fts (orders_fts, rank) VALUES ('integrity-check', 1)",
        [],
    );
    integrity.unwrap();
}

#[test]
fn a_store_written_by_a_newer_build_is_refused_with_a_clear_error() {
    let t = TempStore::new();
    drop(t.open());
    raw_sql_pragma(&t.path(), VERSION + 1);
    let err = Store::open(t.path()).unwrap_err();
    assert!(matches!(err, Error::NotAllowed(_)), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("newer app version"), "{msg}");
    // Left untouched for the newer build.
    let conn = Connection::open(t.path()).unwrap();
    let v: u32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, VERSION + 1);
}

fn raw_sql_pragma(path: &Path, version: u32) {
    let conn = Connection::open(path).unwrap();
    conn.pragma_update(None, "user_version", version).unwrap();
}
