//! The sync endpoint's two phases on both backends: a push merged without the lock is never
//! written over a newer copy, syncs that push nothing take no sequence number and idle ones write
//! nothing, yet miss nothing, and concurrent pushes to one order all land.

use crate::common::{Fixture, TestApp, TestDb, register};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use lastmile_server::docstore::{self, Saved};
use sync_core::protocol::wire::{self, DocPush, Limits, SyncRequest, SyncResponse};
use sync_core::{ActorId, DocId, EditContext, Hlc, Role, UserId, WorkOrderDoc};
use tower::ServiceExt;

conformance!(
    a_prepared_save_is_not_written_over_a_newer_copy,
    idle_syncs_write_nothing_and_miss_nothing,
    concurrent_pushes_to_one_order_all_land,
);

async fn a_prepared_save_is_not_written_over_a_newer_copy(db: TestDb) {
    let app = TestApp::new(db).await;
    let f = Fixture::new(&app).await;
    let state = &app.state;
    let id: DocId = f.work_order.parse().unwrap();
    let ctx = state.docs.edit_context(f.dispatcher.id, Role::Dispatcher);
    let mut conn = state.db.pool().acquire().await.unwrap();
    let (mut doc, meta) = docstore::load_with_meta(&mut conn, state.docs.actor(), f.org, id)
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    doc.set_problem(&ctx, "Prepared without the lock").unwrap();
    let prepared = docstore::prepare(&mut doc, f.org, Some(&meta), false).unwrap();
    assert!(prepared.changes_anything());

    // Another write gets in between: the prepared save must not land.
    state
        .docs
        .update(&state.db, f.org, id, |d| Ok(d.schedule(&ctx, 10, 20)?))
        .await
        .unwrap();
    let mut tx = state.db.begin().await.unwrap();
    let seq = docstore::begin_write(&mut tx).await.unwrap();
    let areas = lastmile_server::territories::areas(&mut tx, f.org)
        .await
        .unwrap();
    let written = docstore::write_prepared(&mut tx, &prepared, seq, &areas)
        .await
        .unwrap();
    assert_eq!(written, None, "a stale prepared save was written");
    tx.commit().await.unwrap();
    let mut conn = state.db.pool().acquire().await.unwrap();
    let now = docstore::load(&mut conn, state.docs.actor(), f.org, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.header().unwrap().problem, "Compressor trips");
    assert_eq!(now.dispatch().unwrap().window_start_ms, Some(10));

    // Prepared over the latest copy, it lands, with its projection.
    let (mut doc, meta) = docstore::load_with_meta(&mut conn, state.docs.actor(), f.org, id)
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    doc.set_problem(&ctx, "Prepared again").unwrap();
    let prepared = docstore::prepare(&mut doc, f.org, Some(&meta), false).unwrap();
    let mut tx = state.db.begin().await.unwrap();
    let seq = docstore::begin_write(&mut tx).await.unwrap();
    let written = docstore::write_prepared(&mut tx, &prepared, seq, &areas)
        .await
        .unwrap();
    assert_eq!(written, Some(Saved::Updated));
    tx.commit().await.unwrap();
    let problem: String =
        sqlx::query_scalar("SELECT problem FROM work_orders WHERE org_id = $1 AND id = $2")
            .bind(f.org.to_string())
            .bind(id.to_string())
            .fetch_one(state.db.pool())
            .await
            .unwrap();
    assert_eq!(problem, "Prepared again");
}

async fn post_sync(app: &TestApp, token: &str, req: &SyncRequest) -> SyncResponse {
    let bytes = wire::encode_request(req).unwrap();
    let http = Request::builder()
        .method("POST")
        .uri("/api/v1/sync")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(Body::from(bytes))
        .unwrap();
    let resp = app.router.clone().oneshot(http).await.unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    wire::decode_response(&body, &Limits::default()).unwrap()
}

fn idle_request(cursor: u64, applied: u64, reference_version: u64) -> SyncRequest {
    SyncRequest {
        cursor,
        applied,
        pushes: Vec::new(),
        evicted: Vec::new(),
        reference_version,
    }
}

async fn change_seq(app: &TestApp) -> i64 {
    let mut conn = app.state.db.pool().acquire().await.unwrap();
    docstore::current_seq(&mut conn).await.unwrap()
}

async fn idle_syncs_write_nothing_and_miss_nothing(db: TestDb) {
    let app = TestApp::new(db).await;
    let f = Fixture::new(&app).await;
    let id: DocId = f.work_order.parse().unwrap();

    // First sync: the assigned order arrives; the next one acknowledges it.
    let first = post_sync(&app, &f.device_token, &idle_request(0, 0, 0)).await;
    assert_eq!(first.pulls.len(), 1);
    // Acknowledging what arrived writes only the device's rows: no change sequence number.
    let seq_first = change_seq(&app).await;
    let second = post_sync(
        &app,
        &f.device_token,
        &idle_request(
            first.cursor,
            first.token,
            first.reference.as_ref().map_or(0, |r| r.version),
        ),
    )
    .await;
    assert!(second.pulls.is_empty());
    assert_eq!(
        change_seq(&app).await,
        seq_first,
        "an acknowledging sync took a sequence"
    );
    let reference_version = second
        .reference
        .as_ref()
        .or(first.reference.as_ref())
        .map_or(0, |r| r.version);

    // Now idle: nothing pending, nothing to pull. Such syncs take no sequence number and
    // repeat the token.
    let seq_before = change_seq(&app).await;
    let mut cursor = second.cursor;
    for _ in 0..3 {
        let idle = post_sync(
            &app,
            &f.device_token,
            &idle_request(cursor, second.token, reference_version),
        )
        .await;
        assert!(idle.pulls.is_empty() && idle.acks.is_empty() && idle.evict.is_empty());
        assert_eq!(idle.token, second.token, "an idle sync issued a new token");
        assert!(idle.cursor >= cursor);
        cursor = idle.cursor;
    }
    assert_eq!(
        change_seq(&app).await,
        seq_before,
        "idle syncs wrote a change"
    );

    // A dispatcher's change after the idle syncs still reaches the phone.
    let ctx = app
        .state
        .docs
        .edit_context(f.dispatcher.id, Role::Dispatcher);
    app.state
        .docs
        .update(
            &app.state.db,
            f.org,
            id,
            |d| Ok(d.schedule(&ctx, 100, 200)?),
        )
        .await
        .unwrap();
    let after = post_sync(
        &app,
        &f.device_token,
        &idle_request(cursor, second.token, reference_version),
    )
    .await;
    assert_eq!(
        after.pulls.len(),
        1,
        "the change after idle syncs was missed"
    );
    assert_ne!(after.token, second.token);
}

/// A phone's edit context (engineer, its own HLC node).
fn phone_ctx(user: UserId, node: u32, n: i64) -> EditContext {
    let now = lastmile_server::now_ms() + n;
    EditContext {
        user,
        role: Role::Engineer,
        device_time_ms: now,
        hlc: Hlc::ZERO.tick(now, node),
    }
}

async fn concurrent_pushes_to_one_order_all_land(db: TestDb) {
    let app = TestApp::new(db).await;
    let f = Fixture::new(&app).await;
    let id: DocId = f.work_order.parse().unwrap();
    let (_, second_token) = register(&app, &f.engineer, "phone-2").await;
    let tokens = [f.device_token.clone(), second_token];
    // Both phones hold the order.
    for token in &tokens {
        post_sync(&app, token, &idle_request(0, 0, 0)).await;
    }

    // Each round: both phones push a new visit with its own notes at the same moment, and a
    // dispatcher reschedules; some pushes find the order changed since they were merged, and
    // are merged again under the lock.
    const ROUNDS: usize = 6;
    let mut expected = Vec::new();
    for round in 0..ROUNDS {
        let mut pushes = Vec::new();
        for (k, token) in tokens.iter().enumerate() {
            let mut conn = app.state.db.pool().acquire().await.unwrap();
            let mut doc: WorkOrderDoc = docstore::load(&mut conn, &ActorId::random(), f.org, id)
                .await
                .unwrap()
                .unwrap();
            drop(conn);
            let base = wire::to_wire(&doc.heads());
            let ctx = phone_ctx(f.engineer.id, 10 + k as u32, round as i64);
            let visit = doc.start_visit(&ctx).unwrap();
            let note = format!("round {round} phone {k}");
            doc.set_notes(&ctx, &visit, &note).unwrap();
            expected.push(note);
            let req = SyncRequest {
                cursor: 0,
                applied: 0,
                pushes: vec![DocPush {
                    id,
                    base,
                    heads: wire::to_wire(&doc.heads()),
                    changes: doc.save(),
                }],
                evicted: Vec::new(),
                reference_version: 0,
            };
            pushes.push((token.clone(), req));
        }
        let ctx = app
            .state
            .docs
            .edit_context(f.dispatcher.id, Role::Dispatcher);
        let start = 1_000 * (round as i64 + 1);
        let dispatcher = app.state.docs.update(&app.state.db, f.org, id, |d| {
            Ok(d.schedule(&ctx, start, start + 10)?)
        });
        let [(t0, r0), (t1, r1)]: [(String, SyncRequest); 2] = pushes.try_into().unwrap();
        let (d, a0, a1) = tokio::join!(
            dispatcher,
            post_sync(&app, &t0, &r0),
            post_sync(&app, &t1, &r1)
        );
        d.unwrap();
        for answer in [a0, a1] {
            assert_eq!(answer.acks.len(), 1);
            assert!(answer.acks[0].error.is_none(), "{:?}", answer.acks[0]);
            assert!(answer.acks[0].refusals.is_empty(), "{:?}", answer.acks[0]);
        }
    }

    let mut conn = app.state.db.pool().acquire().await.unwrap();
    let doc = docstore::load(&mut conn, app.state.docs.actor(), f.org, id)
        .await
        .unwrap()
        .unwrap();
    let order = doc.read().unwrap();
    let mut notes: Vec<String> = order
        .visits
        .iter()
        .map(|v| v.report.notes.clone())
        .collect();
    notes.sort();
    expected.sort();
    assert_eq!(notes, expected, "a concurrent push was lost");
    assert_eq!(
        order.dispatch.window_start_ms,
        Some(1_000 * ROUNDS as i64),
        "the dispatcher's last change was lost"
    );
}
