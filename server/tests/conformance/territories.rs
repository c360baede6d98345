//! Territories: CRUD, projection of orders into them, dispatchers limited to a territory or a
//! team, and restricted territories in suggestions. On both backends.

use crate::common::{Fixture, TestApp, TestDb};
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

conformance!(
    territories_scope_dispatchers_and_restrict_suggestions,
    bad_territories_are_refused,
);

/// A square around Pudong (east of the river) and one around Puxi (west).
fn square(lon0: f64, lat0: f64, lon1: f64, lat1: f64) -> Value {
    json!({"type": "Polygon", "coordinates": [[[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]]})
}

async fn order_at(app: &TestApp, f: &Fixture, lat: f64, lon: f64) -> String {
    let r = app
        .post(
            "/api/v1/work-orders",
            &f.dispatcher.token,
            json!({"customer_id": f.customer_id, "site": {"address": "x", "lat": lat, "lon": lon}, "problem": "p"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

async fn territories_scope_dispatchers_and_restrict_suggestions(db: TestDb) {
    let app = TestApp::new(db).await;
    let f = Fixture::new(&app).await;
    let d = &f.dispatcher.token;
    let puxi_order = order_at(&app, &f, 31.23, 121.45).await;
    let pudong = app
        .post(
            "/api/v1/territories",
            d,
            json!({"name": "Pudong", "mode": "restrict", "area": square(121.50, 31.10, 121.80, 31.40)}),
        )
        .await;
    assert_eq!(pudong.status, StatusCode::CREATED, "{:?}", pudong.body);
    let pudong_id = pudong.body["id"].as_str().unwrap().to_owned();
    let pudong_order = order_at(&app, &f, 31.22, 121.55).await;
    let dup = app
        .post(
            "/api/v1/territories",
            d,
            json!({"name": "Pudong", "mode": "prefer", "area": square(0.0, 0.0, 1.0, 1.0)}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    let list = app.get("/api/v1/territories", d).await;
    assert_eq!(list.body.as_array().unwrap().len(), 1);

    // A dispatcher of Pudong sees and edits only Pudong's orders.
    let mut conn = app.state.db.pool().acquire().await.unwrap();
    sqlx::query("UPDATE users SET territory = 'Pudong' WHERE org_id = $1 AND id = $2")
        .bind(f.org.to_string())
        .bind(f.dispatcher.id.to_string())
        .execute(&mut *conn)
        .await
        .unwrap();
    let board = app.get("/api/v1/work-orders?limit=100", d).await;
    let ids: Vec<&str> = board.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&pudong_order.as_str()), "{ids:?}");
    assert!(!ids.contains(&puxi_order.as_str()));
    assert_eq!(
        app.get(&format!("/api/v1/work-orders/{puxi_order}"), d)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let edit = app
        .post(
            &format!("/api/v1/work-orders/{puxi_order}/priority"),
            d,
            json!({"priority": "urgent"}),
        )
        .await;
    assert_eq!(edit.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&format!("/api/v1/work-orders/{pudong_order}"), d)
            .await
            .status,
        StatusCode::OK
    );
    // The admin still sees everything.
    let all = app
        .get("/api/v1/work-orders?limit=100", &f.admin.token)
        .await;
    assert!(all.body["total"].as_i64().unwrap() >= 3);

    // A team-limited dispatcher: unassigned orders and those of the team's engineers.
    sqlx::query("UPDATE users SET territory = NULL, team = 'north' WHERE org_id = $1 AND id = $2")
        .bind(f.org.to_string())
        .bind(f.dispatcher.id.to_string())
        .execute(&mut *conn)
        .await
        .unwrap();
    let assigned = app
        .post(
            &format!("/api/v1/work-orders/{puxi_order}/assign"),
            &f.admin.token,
            json!({"engineer_id": f.other_engineer.id}),
        )
        .await;
    assert_eq!(assigned.status, StatusCode::OK);
    assert_eq!(
        app.get(&format!("/api/v1/work-orders/{puxi_order}"), d)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    sqlx::query("UPDATE users SET team = 'north' WHERE org_id = $1 AND id = $2")
        .bind(f.org.to_string())
        .bind(f.other_engineer.id.to_string())
        .execute(&mut *conn)
        .await
        .unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/work-orders/{puxi_order}"), d)
            .await
            .status,
        StatusCode::OK
    );

    // Restricted territory in suggestions: only its engineers are suggested for its sites.
    let a = &f.admin.token;
    for (email, lat, lon) in [
        ("east@example.test", 31.20, 121.60),
        ("west@example.test", 31.22, 121.54),
    ] {
        let r = app
            .post("/api/v1/engineers", a, json!({"email": email, "name": email, "password": "long enough pw", "home": {"lat": lat, "lon": lon},
                   "working_hours": {"days": [1,2,3,4,5,6,7], "start_minute": 0, "end_minute": 1440}}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        if email.starts_with("east") {
            let id = r.body["id"].as_str().unwrap();
            let put = app
                .call(
                    Method::PUT,
                    &format!("/api/v1/engineers/{id}/territories"),
                    Some(a),
                    Some(json!({"territory_ids": [pudong_id]})),
                )
                .await;
            assert_eq!(put.status, StatusCode::NO_CONTENT, "{:?}", put.body);
        }
    }
    let s = app
        .get(
            &format!("/api/v1/work-orders/{pudong_order}/suggestions"),
            a,
        )
        .await;
    let names: Vec<&str> = s
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["east@example.test"],
        "the nearer west engineer is not in Pudong"
    );
    let unknown = app
        .call(
            Method::PUT,
            &format!("/api/v1/engineers/{}/territories", f.engineer.id),
            Some(a),
            Some(json!({"territory_ids": ["nope"]})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Deleting the territory re-projects: the Pudong order is in no territory any more.
    let del = app
        .call(
            Method::DELETE,
            &format!("/api/v1/territories/{pudong_id}"),
            Some(a),
            None,
        )
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let t: Option<String> =
        sqlx::query_scalar("SELECT territory_id FROM work_orders WHERE org_id = $1 AND id = $2")
            .bind(f.org.to_string())
            .bind(&pudong_order)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert_eq!(t, None);
}

async fn bad_territories_are_refused(db: TestDb) {
    let app = TestApp::new(db).await;
    let f = Fixture::new(&app).await;
    let d = &f.dispatcher.token;
    for (what, body) in [
        (
            "a point",
            json!({"name": "P", "mode": "restrict", "area": {"type": "Point", "coordinates": [121.0, 31.0]}}),
        ),
        (
            "not GeoJSON",
            json!({"name": "P", "mode": "restrict", "area": {"shape": "round"}}),
        ),
        (
            "an open ring",
            json!({"name": "P", "mode": "restrict", "area": {"type": "Polygon", "coordinates": [[[0.0, 0.0], [1.0, 0.0]]]}}),
        ),
        (
            "latitude 95",
            json!({"name": "P", "mode": "restrict", "area": square(0.0, 0.0, 1.0, 95.0)}),
        ),
        (
            "a bad mode",
            json!({"name": "P", "mode": "sometimes", "area": square(0.0, 0.0, 1.0, 1.0)}),
        ),
        (
            "no name",
            json!({"name": " ", "mode": "prefer", "area": square(0.0, 0.0, 1.0, 1.0)}),
        ),
    ] {
        let r = app.post("/api/v1/territories", d, body).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {:?}",
            r.body
        );
        assert_eq!(r.code(), "invalid_input", "{what}");
    }
    assert_eq!(app.get("/api/v1/territories", d).await.body, json!([]));
}
