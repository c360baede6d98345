//! The dispatch API on both backends: work orders, engineers, visibility, isolation, and the
//! error format for bad requests.

use crate::common::{self, Fixture, TestApp, TestDb};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use lastmile_server::config::Settings;
use lastmile_server::docstore::{self};
use serde_json::json;

conformance!(
    dispatcher_creates_assigns_schedules_and_filters_work_orders,
    refused_status_transition_is_409_and_changes_nothing,
    engineers_and_customers_see_only_their_orders,
    organisations_are_isolated,
    malformed_json_is_a_400_json_error,
    oversized_body_is_a_413_json_error,
    engineers_are_created_and_updated_with_profiles,
);

async fn dispatcher_creates_assigns_schedules_and_filters_work_orders(db: TestDb) {
    let app = TestApp::new(db).await;
    let f = Fixture::new(&app).await;
    let d = &f.dispatcher.token;
    let mut ids = Vec::new();
    for (priority, sla) in [("low", 3_000), ("urgent", 1_000), ("normal", 2_000)] {
        let r = app
            .post(
                "/api/v1/work-orders",
                d,
                json!({
                    "customer_id": f.customer_id,
                    "site": {"address": "9 Quay St", "lat": 31.1, "lon": 121.5},
                    "problem": format!("{priority} problem"),
                    "priority": priority,
                    "sla_due_ms": sla,
                }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        assert_eq!(r.body["status"], "new");
        assert_eq!(r.body["customer_name"], "Acme Cold Storage");
        assert!(r.body["number"].as_str().unwrap().starts_with("WO-"));
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    // Bad input.
    let bad = app
        .post(
            "/api/v1/work-orders",
            d,
            json!({"customer_id": "nope", "site": {"address": "x", "lat": 1.0, "lon": 1.0}, "problem": "p"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let bad = app
        .post(
            "/api/v1/work-orders",
            d,
            json!({"customer_id": f.customer_id, "site": {"address": "x", "lat": 91.0, "lon": 1.0}, "problem": "p"}),
        )
        .await;
    assert_eq!(bad.code(), "invalid_input");

    // Assign and schedule the urgent one.
    let urgent = &ids[1];
    let r = app
        .post(
            &format!("/api/v1/work-orders/{urgent}/assign"),
            d,
            json!({"engineer_id": f.other_engineer.id.to_string()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "assigned");
    assert_eq!(r.body["assignee_id"], f.other_engineer.id.to_string());
    let r = app
        .post(
            &format!("/api/v1/work-orders/{urgent}/schedule"),
            d,
            json!({"start_ms": 5_000, "end_ms": 9_000}),
        )
        .await;
    assert_eq!(r.body["window_start_ms"], 5_000);
    let r = app
        .post(
            &format!("/api/v1/work-orders/{urgent}/schedule"),
            d,
            json!({"start_ms": 9, "end_ms": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Assigning a non-engineer is refused.
    let r = app
        .post(
            &format!("/api/v1/work-orders/{urgent}/assign"),
            d,
            json!({"engineer_id": f.warehouse.id.to_string()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Lists come from the projection, most urgent SLA first.
    let all = app.get("/api/v1/work-orders", d).await;
    assert_eq!(all.body["total"], 4);
    let numbers: Vec<&str> = all.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["problem"].as_str().unwrap())
        .collect();
    assert_eq!(
        &numbers[..3],
        ["urgent problem", "normal problem", "low problem"]
    );
    let q = |query: &str| format!("/api/v1/work-orders?{query}");
    let count = |r: &common::Response| r.body["total"].as_i64().unwrap();
    assert_eq!(count(&app.get(&q("status=new"), d).await), 2);
    assert_eq!(count(&app.get(&q("status=new,assigned"), d).await), 4);
    assert_eq!(
        count(
            &app.get(&q(&format!("assignee={}", f.other_engineer.id)), d)
                .await
        ),
        1
    );
    assert_eq!(count(&app.get(&q("assignee=none"), d).await), 2);
    assert_eq!(count(&app.get(&q("priority=urgent"), d).await), 1);
    assert_eq!(count(&app.get(&q("from_ms=4000&to_ms=6000"), d).await), 1);
    let page = app.get(&q("limit=1&offset=1"), d).await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(count(&page), 4);
    assert_eq!(
        app.get(&q("status=bogus"), d).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let r = app.get(&q("limit=many"), d).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_query")
    );

    // Unassigning an assigned order puts it back to new.
    let r = app
        .post(
            &format!("/api/v1/work-orders/{urgent}/assign"),
            d,
            json!({"engineer_id": null}),
        )
        .await;
    assert_eq!(r.body["status"], "new");
    assert_eq!(r.body["assignee_id"], serde_json::Value::Null);
}

async fn refused_status_transition_is_409_and_changes_nothing(db: TestDb) {
    let app = TestApp::new(db).await;
    let f = Fixture::new(&app).await;
    let path = format!("/api/v1/work-orders/{}", f.work_order);
    let before = app.get(&path, &f.dispatcher.token).await;
    // Only the engineer moves an order on site.
    let r = app
        .post(
            &format!("{path}/status"),
            &f.dispatcher.token,
            json!({"status": "on_site"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.code(), "transition_not_allowed");
    let r = app
        .post(
            &format!("{path}/status"),
            &f.dispatcher.token,
            json!({"status": "teleported"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let after = app.get(&path, &f.dispatcher.token).await;
    assert_eq!(before.body, after.body);
    let r = app
        .post(
            &format!("{path}/status"),
            &f.dispatcher.token,
            json!({"status": "cancelled"}),
        )
        .await;
    assert_eq!(r.body["status"], "cancelled");
}

async fn engineers_and_customers_see_only_their_orders(db: TestDb) {
    let app = TestApp::new(db).await;
    let f = Fixture::new(&app).await;
    let path = format!("/api/v1/work-orders/{}", f.work_order);
    assert_eq!(
        app.get(&path, &f.engineer.token).await.status,
        StatusCode::OK
    );
    assert_eq!(app.get(&path, &f.device_token).await.status, StatusCode::OK);
    assert_eq!(
        app.get(&path, &f.other_engineer.token).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&path, &f.customer.token).await.status,
        StatusCode::OK
    );
    // Re-assigned: the first engineer loses sight of it.
    app.post(
        &format!("{path}/assign"),
        &f.dispatcher.token,
        json!({"engineer_id": f.other_engineer.id.to_string()}),
    )
    .await;
    assert_eq!(
        app.get(&path, &f.engineer.token).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&path, &f.other_engineer.token).await.status,
        StatusCode::OK
    );
    // The sync scope follows the assignment, from the projection.
    let mut conn = app.state.db.pool().acquire().await.unwrap();
    let ids: Vec<String> = docstore::engineer_scope(&mut conn, f.org, f.other_engineer.id)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id.to_string())
        .collect();
    assert_eq!(ids, vec![f.work_order.clone()]);
    assert!(
        docstore::engineer_scope(&mut conn, f.org, f.engineer.id)
            .await
            .unwrap()
            .is_empty()
    );
    drop(conn);
    // A malformed id is just not found.
    let r = app
        .get("/api/v1/work-orders/not-a-uuid", &f.dispatcher.token)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

async fn organisations_are_isolated(db: TestDb) {
    let app = TestApp::new(db).await;
    let f = Fixture::new(&app).await;
    let o = &f.other_org_dispatcher.token;
    let list = app.get("/api/v1/work-orders", o).await;
    assert_eq!(list.body["total"], 0);
    assert_eq!(app.get("/api/v1/engineers", o).await.body, json!([]));
    assert_eq!(app.get("/api/v1/customers", o).await.body, json!([]));
    assert_eq!(app.get("/api/v1/devices", o).await.body, json!([]));
    let r = app
        .get(&format!("/api/v1/work-orders/{}", f.work_order), o)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .post(
            &format!("/api/v1/work-orders/{}/status", f.work_order),
            o,
            json!({"status": "cancelled"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Org A's view is intact.
    let a = app.get("/api/v1/work-orders", &f.dispatcher.token).await;
    assert_eq!(a.body["total"], 1);
    assert_eq!(a.body["items"][0]["status"], "assigned");
    // Org A cannot assign its order to org B's people.
    let r = app
        .post(
            &format!("/api/v1/work-orders/{}/assign", f.work_order),
            &f.dispatcher.token,
            json!({"engineer_id": f.other_org_dispatcher.id.to_string()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn malformed_json_is_a_400_json_error(db: TestDb) {
    let app = TestApp::new(db).await;
    let f = Fixture::new(&app).await;
    let send = |body: &'static str, content_type: &'static str| {
        Request::builder()
            .method(Method::POST)
            .uri("/api/v1/work-orders")
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", f.dispatcher.token),
            )
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap()
    };
    for body in ["{\"customer_id\": ", "[]", "{\"customer_id\": 5}"] {
        let r = app.send(send(body, "application/json")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(r.code(), "invalid_json");
        assert!(r.body["message"].is_string());
    }
    let r = app.send(send("{}", "text/plain")).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    // Unknown routes and methods answer in the same format.
    let r = app.get("/api/v1/nowhere", &f.dispatcher.token).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    let r = app
        .call(Method::PUT, "/api/v1/work-orders", None, None)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    // Every answer carries a request id.
    assert!(r.headers.contains_key("x-request-id"));
}

async fn oversized_body_is_a_413_json_error(db: TestDb) {
    let settings = Settings {
        max_body_bytes: 4096,
        ..Settings::default()
    };
    let app = TestApp::with_settings(db, settings).await;
    let f = Fixture::new(&app).await;
    let big = "x".repeat(8192);
    let r = app
        .post(
            "/api/v1/work-orders",
            &f.dispatcher.token,
            json!({"customer_id": f.customer_id, "site": {"address": big, "lat": 1.0, "lon": 1.0}, "problem": "p"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.code(), "payload_too_large");
    // Nothing was written.
    let list = app.get("/api/v1/work-orders", &f.dispatcher.token).await;
    assert_eq!(list.body["total"], 1);
}

async fn engineers_are_created_and_updated_with_profiles(db: TestDb) {
    let app = TestApp::new(db).await;
    let f = Fixture::new(&app).await;
    let d = &f.dispatcher.token;
    let r = app
        .post(
            "/api/v1/engineers",
            d,
            json!({
                "email": "zhang.lei@example.test",
                "name": "张磊 Zhang Lei",
                "password": "long enough pw",
                "skills": ["HVAC", "electrical", "hvac"],
                "home": {"lat": 31.2, "lon": 121.5},
                "working_hours": {"days": [1, 2, 3], "start_minute": 480, "end_minute": 1020}
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["skills"], json!(["electrical", "hvac"]));
    assert_eq!(r.body["working_hours"]["days"], json!([1, 2, 3]));
    let id = r.body["id"].as_str().unwrap().to_owned();
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/v1/engineers/{id}"),
            Some(d),
            Some(json!({"last_location": {"lat": 31.0, "lon": 121.0, "at_ms": 42}, "skills": ["plumbing"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["skills"], json!(["plumbing"]));
    assert_eq!(r.body["home"]["lat"], 31.2);
    assert_eq!(r.body["last_location"]["at_ms"], 42);
    let list = app.get("/api/v1/engineers", d).await;
    assert_eq!(list.body.as_array().unwrap().len(), 3);
    let r = app
        .post(
            "/api/v1/engineers",
            d,
            json!({"email": "x@example.test", "name": "X", "password": "short"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/v1/engineers/{id}"),
            Some(d),
            Some(json!({"working_hours": {"days": [9], "start_minute": 1, "end_minute": 2}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}
