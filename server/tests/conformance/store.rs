//! The database layer on both backends: migrations, the refusal of a newer database, unique
//! violations, documents with their projection and change sequence, concurrent writers, the demo.

use crate::common::{Fixture, TestApp, TestDb};
use axum::http::{Method, StatusCode};
use lastmile_server::db::Backend;
use lastmile_server::docstore::{self, Saved};
use lastmile_server::{Db, Error, accounts, demo};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use sync_core::workorder::Priority;
use sync_core::{DocId, Role, Status, WorkOrderDoc};

conformance!(
    migrations_apply_once_and_readiness_follows_them,
    a_newer_database_is_refused,
    unique_violations_are_409_conflicts,
    documents_and_projection_are_written_together,
    a_stale_document_copy_is_refused,
    concurrent_writers_get_distinct_numbers_and_sequences,
    demo_seeds_once_with_orders_in_every_status,
);

async fn migrations_apply_once_and_readiness_follows_them(db: TestDb) {
    let pool = Db::connect(&db.url).await.unwrap();
    assert_eq!(
        pool.backend(),
        if db.is_postgres() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    );
    assert!(!pool.is_ready().await, "an empty database is not ready");
    pool.migrate().await.unwrap();
    pool.migrate().await.unwrap();
    assert!(pool.is_ready().await);
    assert_eq!(
        pool.applied_versions().await.unwrap(),
        (1..=lastmile_server::db::latest_version()).collect::<Vec<_>>(),
        "every migration applied once, in order"
    );
    let app = TestApp::new(db).await;
    let r = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
}

async fn a_newer_database_is_refused(db: TestDb) {
    let pool = Db::connect(&db.url).await.unwrap();
    pool.migrate().await.unwrap();
    // What a future Lastmile would have recorded.
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(9_999i64)
    .bind("from the future")
    .bind(true)
    .bind(vec![0u8; 48])
    .bind(0i64)
    .execute(pool.pool())
    .await
    .unwrap();
    let err = pool.migrate().await.unwrap_err();
    assert!(
        matches!(&err, Error::NewerDatabase { unknown, .. } if unknown == &vec![9_999]),
        "{err}"
    );
    assert!(err.to_string().contains("newer Lastmile"), "{err}");
}

async fn unique_violations_are_409_conflicts(db: TestDb) {
    let app = TestApp::new(db).await;
    let f = Fixture::new(&app).await;
    // Store level: the same organisation name twice.
    let err = accounts::create_org(&app.state.db, "Org A")
        .await
        .unwrap_err();
    assert!(err.is_unique_violation(), "{err}");
    // HTTP: an engineer email that exists in the organisation.
    let body =
        json!({"email": "ENGINEER@example.test", "name": "Dup", "password": "long enough pw"});
    let r = app
        .post("/api/v1/engineers", &f.dispatcher.token, body.clone())
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(r.code(), "conflict");
    // The same email in another organisation is fine.
    let r = app
        .post("/api/v1/engineers", &f.other_org_dispatcher.token, body)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    // A customer id that exists.
    let r = app
        .post(
            "/api/v1/customers",
            &f.dispatcher.token,
            json!({"id": "C-1", "name": "Again"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
}

async fn documents_and_projection_are_written_together(db: TestDb) {
    let app = TestApp::new(db).await;
    let f = Fixture::new(&app).await;
    let state = &app.state;
    let id: DocId = f.work_order.parse().unwrap();
    let ctx = state.docs.edit_context(f.dispatcher.id, Role::Dispatcher);

    let mut conn = state.db.pool().acquire().await.unwrap();
    let before = docstore::current_seq(&mut conn).await.unwrap();
    drop(conn);
    // Many small edits: appended as chunks, compacted once they outgrow the snapshot.
    for i in 0..40 {
        let priority = [Priority::Low, Priority::Urgent][i % 2];
        state
            .docs
            .update(&state.db, f.org, id, |doc| {
                Ok(doc.set_priority(&ctx, priority)?)
            })
            .await
            .unwrap()
            .expect("order exists");
    }
    let mut conn = state.db.pool().acquire().await.unwrap();
    let after = docstore::current_seq(&mut conn).await.unwrap();
    assert_eq!(
        after,
        before + 40,
        "one sequence number per write transaction"
    );

    let (doc_seq, changes_bytes): (i64, i64) =
        sqlx::query_as("SELECT seq, changes_bytes FROM documents WHERE org_id = $1 AND id = $2")
            .bind(f.org.to_string())
            .bind(&f.work_order)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    let (projected_seq, priority): (i64, String) = sqlx::query_as(
        "SELECT updated_seq, priority FROM work_orders WHERE org_id = $1 AND id = $2",
    )
    .bind(f.org.to_string())
    .bind(&f.work_order)
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!(doc_seq, after);
    assert_eq!(
        projected_seq, after,
        "projection written in the same transaction"
    );
    assert_eq!(priority, "urgent");
    let chunks: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM doc_changes WHERE org_id = $1 AND doc_id = $2")
            .bind(f.org.to_string())
            .bind(&f.work_order)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert!(chunks < 40, "compaction kept {chunks} chunks");
    let snapshot_len: i64 =
        sqlx::query_scalar("SELECT length(snapshot) FROM documents WHERE org_id = $1 AND id = $2")
            .bind(f.org.to_string())
            .bind(&f.work_order)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert!(changes_bytes < snapshot_len);

    // What is stored loads back as the same document.
    let loaded = docstore::load(&mut conn, state.docs.actor(), f.org, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(loaded.summary().unwrap().priority, Priority::Urgent);
    assert_eq!(loaded.summary().unwrap().assignee, Some(f.engineer.id));
    // Not visible from another organisation.
    assert!(
        docstore::load(&mut conn, state.docs.actor(), f.other_org, id)
            .await
            .unwrap()
            .is_none()
    );
    // The feed a sync endpoint reads.
    let changed = docstore::changed_since(&mut conn, f.org, before, 100)
        .await
        .unwrap();
    assert_eq!(changed, vec![(id, after)]);
    assert!(
        docstore::changed_since(&mut conn, f.org, after, 100)
            .await
            .unwrap()
            .is_empty()
    );

    // Saving a document that has nothing new writes nothing.
    let mut tx = state.db.begin().await.unwrap();
    let seq = docstore::begin_write(&mut tx).await.unwrap();
    let mut doc = docstore::load(&mut tx, state.docs.actor(), f.org, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        docstore::save(&mut tx, f.org, &mut doc, seq).await.unwrap(),
        Saved::Unchanged
    );
    // A document of another organisation is refused.
    assert!(
        docstore::save(&mut tx, f.other_org, &mut doc, seq)
            .await
            .is_err()
    );
    tx.rollback().await.unwrap();
}

async fn a_stale_document_copy_is_refused(db: TestDb) {
    let app = TestApp::new(db).await;
    let f = Fixture::new(&app).await;
    let state = &app.state;
    let id: DocId = f.work_order.parse().unwrap();
    let ctx = state.docs.edit_context(f.dispatcher.id, Role::Dispatcher);
    let mut conn = state.db.pool().acquire().await.unwrap();
    let mut stale = docstore::load(&mut conn, state.docs.actor(), f.org, id)
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    state
        .docs
        .update(&state.db, f.org, id, |doc| Ok(doc.schedule(&ctx, 1, 2)?))
        .await
        .unwrap();
    stale.set_priority(&ctx, Priority::Low).unwrap();
    let mut tx = state.db.begin().await.unwrap();
    let seq = docstore::begin_write(&mut tx).await.unwrap();
    let err = docstore::save(&mut tx, f.org, &mut stale, seq)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err}");
}

async fn concurrent_writers_get_distinct_numbers_and_sequences(db: TestDb) {
    let app = std::sync::Arc::new(TestApp::new(db).await);
    let f = std::sync::Arc::new(Fixture::new(&app).await);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let (app, f) = (app.clone(), f.clone());
        tasks.spawn(async move {
            if i % 2 == 0 {
                let body = json!({
                    "customer_id": f.customer_id,
                    "site": {"address": "x", "lat": 1.0, "lon": 1.0},
                    "problem": format!("problem {i}"),
                });
                app.post("/api/v1/work-orders", &f.dispatcher.token, body)
                    .await
            } else {
                // Everyone edits the same order at once.
                let path = format!("/api/v1/work-orders/{}/schedule", f.work_order);
                let body = json!({"start_ms": i, "end_ms": i + 10});
                app.post(&path, &f.dispatcher.token, body).await
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        let r = r.unwrap();
        assert!(r.status.is_success(), "{:?}", r.body);
    }
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT number, updated_seq FROM work_orders WHERE org_id = $1")
            .bind(f.org.to_string())
            .fetch_all(app.state.db.pool())
            .await
            .unwrap();
    assert_eq!(rows.len(), 7);
    let numbers: BTreeSet<&String> = rows.iter().map(|(n, _)| n).collect();
    let seqs: BTreeSet<i64> = rows.iter().map(|(_, s)| *s).collect();
    assert_eq!((numbers.len(), seqs.len()), (7, 7), "{rows:?}");
    // All six schedule edits are in the document's event log, none lost.
    let r = app
        .get(
            &format!("/api/v1/work-orders/{}", f.work_order),
            &f.dispatcher.token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let id: DocId = f.work_order.parse().unwrap();
    let mut conn = app.state.db.pool().acquire().await.unwrap();
    let doc = docstore::load(&mut conn, app.state.docs.actor(), f.org, id)
        .await
        .unwrap()
        .unwrap();
    let schedules = doc
        .events()
        .unwrap()
        .iter()
        .filter(|e| e.kind == "schedule")
        .count();
    assert_eq!(schedules, 6);
}

async fn demo_seeds_once_with_orders_in_every_status(db: TestDb) {
    let app = TestApp::new(db).await;
    let started = Instant::now();
    let first = demo::seed(&app.state).await.unwrap();
    let elapsed = started.elapsed();
    assert!(first.created);
    let again = demo::seed(&app.state).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.org, first.org);
    assert!(
        elapsed < Duration::from_secs(10),
        "seeding took {elapsed:?}"
    );

    let statuses: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, COUNT(*) FROM work_orders WHERE org_id = $1 GROUP BY status ORDER BY status",
    )
    .bind(first.org.to_string())
    .fetch_all(app.state.db.pool())
    .await
    .unwrap();
    let total: i64 = statuses.iter().map(|(_, n)| n).sum();
    assert_eq!(total, demo::WORK_ORDERS as i64);
    let seen: BTreeSet<String> = statuses.into_iter().map(|(s, _)| s).collect();
    let known: BTreeSet<String> = Status::KNOWN
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect();
    assert_eq!(seen, known);

    // The demo accounts sign in with the printed password and see the orders.
    let r = app
        .login("dispatcher1@demo.lastmile.dev", demo::PASSWORD)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let token = r.body["token"].as_str().unwrap();
    let list = app.get("/api/v1/work-orders?limit=1000", token).await;
    assert_eq!(list.body["total"], 500);
    assert_eq!(
        app.get("/api/v1/engineers", token)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        20
    );
    assert_eq!(
        app.get("/api/v1/customers?limit=1000", token)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        200
    );
    // Orders are real documents.
    let id: DocId = list.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut conn = app.state.db.pool().acquire().await.unwrap();
    let doc: WorkOrderDoc = docstore::load(&mut conn, app.state.docs.actor(), first.org, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(doc.id().unwrap(), id);
}
