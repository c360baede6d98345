//! Dispatch suggestions and auto-assignment through the API, on both backends.

use crate::common::{Fixture, TestApp, TestDb};
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

conformance!(
    suggestions_rank_by_skill_distance_and_load_with_reasons,
    auto_assign_gives_the_order_to_the_best_engineer,
    a_reported_location_moves_an_engineer_up,
    header_edits_and_flag_resolution_go_through_the_document,
    working_hours_are_read_in_the_deployments_zone_summer_and_winter,
);

/// Three engineers around Shanghai: one near the site with the skill, one near without it, one
/// far with it. The site is at People's Square.
async fn crew(app: &TestApp, f: &Fixture) -> (String, String, String, String) {
    let d = &f.dispatcher.token;
    let mut ids = Vec::new();
    for (name, skills, lat, lon) in [
        ("Near Hvac", vec!["hvac", "electrical"], 31.235, 121.48),
        ("Near Plumber", vec!["plumbing"], 31.232, 121.47),
        ("Far Hvac", vec!["hvac"], 31.0, 121.2),
    ] {
        let r = app
            .post(
                "/api/v1/engineers",
                d,
                json!({
                    "email": format!("{}@example.test", name.replace(' ', ".").to_lowercase()),
                    "name": name, "password": "long enough pw", "skills": skills,
                    "home": {"lat": lat, "lon": lon},
                    "working_hours": {"days": [1,2,3,4,5,6,7], "start_minute": 0, "end_minute": 1440},
                }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    let order = app
        .post(
            "/api/v1/work-orders",
            d,
            json!({"customer_id": f.customer_id, "site": {"address": "People's Square", "lat": 31.2304, "lon": 121.4737}, "problem": "Chiller alarm"}),
        )
        .await;
    assert_eq!(order.status, StatusCode::CREATED);
    let order = order.body["id"].as_str().unwrap().to_owned();
    (ids[0].clone(), ids[1].clone(), ids[2].clone(), order)
}

fn ranked(body: &Value) -> Vec<String> {
    body.as_array()
        .unwrap()
        .iter()
        .map(|s| s["engineer_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn suggestions_rank_by_skill_distance_and_load_with_reasons(db: TestDb) {
    let app = TestApp::new(db).await;
    let f = Fixture::new(&app).await;
    let (near_hvac, near_plumber, far_hvac, order) = crew(&app, &f).await;
    let d = &f.dispatcher.token;
    let r = app
        .get(
            &format!("/api/v1/work-orders/{order}/suggestions?skills=hvac&limit=5"),
            d,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // The plumber lacks the skill; the near HVAC engineer beats the far one.
    assert_eq!(ranked(&r.body), vec![near_hvac.clone(), far_hvac.clone()]);
    let first = &r.body[0];
    assert_eq!(first["name"], "Near Hvac");
    assert!(first["distance_km"].as_f64().unwrap() < 2.0);
    let kinds: Vec<&str> = first["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"skill_match") && kinds.contains(&"distance"),
        "{kinds:?}"
    );
    // Without a skill requirement the plumber qualifies too.
    let all = app
        .get(&format!("/api/v1/work-orders/{order}/suggestions"), d)
        .await;
    assert!(ranked(&all.body).contains(&near_plumber));
    // Load: give the near HVAC engineer many open orders; the far one overtakes only if load
    // outweighs ~30 km, so the near one stays first but with a lower score.
    let before = first["score"].as_f64().unwrap();
    for _ in 0..6 {
        let o = app
            .post("/api/v1/work-orders", d, json!({"customer_id": f.customer_id, "site": {"address": "x", "lat": 31.3, "lon": 121.5}, "problem": "p"}))
            .await;
        let id = o.body["id"].as_str().unwrap();
        let a = app
            .post(
                &format!("/api/v1/work-orders/{id}/assign"),
                d,
                json!({"engineer_id": near_hvac}),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK);
    }
    let again = app
        .get(
            &format!("/api/v1/work-orders/{order}/suggestions?skills=hvac"),
            d,
        )
        .await;
    let after = again.body[0]["score"].as_f64().unwrap();
    assert!(after < before, "load lowers the score: {before} -> {after}");
    // Unknown order: 404; engineers may not ask.
    let none = app
        .get(
            "/api/v1/work-orders/00000000-0000-4000-8000-000000000000/suggestions",
            d,
        )
        .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    let eng = app
        .get(
            &format!("/api/v1/work-orders/{order}/suggestions"),
            &f.engineer.token,
        )
        .await;
    assert_eq!(eng.status, StatusCode::FORBIDDEN);
}

async fn auto_assign_gives_the_order_to_the_best_engineer(db: TestDb) {
    let app = TestApp::new(db).await;
    let f = Fixture::new(&app).await;
    let (near_hvac, _, _, order) = crew(&app, &f).await;
    let d = &f.dispatcher.token;
    let r = app
        .call(
            Method::POST,
            &format!("/api/v1/work-orders/{order}/auto-assign?skills=hvac"),
            Some(d),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["engineer_id"], near_hvac.as_str());
    let o = app.get(&format!("/api/v1/work-orders/{order}"), d).await;
    assert_eq!(o.body["assignee_id"], near_hvac.as_str());
    assert_eq!(o.body["status"], "assigned");
    // Nobody has this skill: 409, nothing assigned.
    let other = app
        .post(
            "/api/v1/work-orders",
            d,
            json!({"customer_id": f.customer_id, "site": {"address": "x", "lat": 31.2, "lon": 121.4}, "problem": "p"}),
        )
        .await;
    let other = other.body["id"].as_str().unwrap().to_owned();
    let r = app
        .call(
            Method::POST,
            &format!("/api/v1/work-orders/{other}/auto-assign?skills=welding"),
            Some(d),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let o = app.get(&format!("/api/v1/work-orders/{other}"), d).await;
    assert_eq!(o.body["assignee_id"], Value::Null);
}

async fn a_reported_location_moves_an_engineer_up(db: TestDb) {
    let app = TestApp::new(db).await;
    let f = Fixture::new(&app).await;
    let (near_hvac, _, far_hvac, order) = crew(&app, &f).await;
    let d = &f.dispatcher.token;
    // The far engineer's phone reports a position next to the site.
    let login = app.login("far.hvac@example.test", "long enough pw").await;
    let token = login.body["token"].as_str().unwrap().to_owned();
    let now = lastmile_server::now_ms();
    let r = app
        .post(
            "/api/v1/me/location",
            &token,
            json!({"lat": 31.2305, "lon": 121.4738, "at_ms": now}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    // An older report is ignored.
    let r = app
        .post(
            "/api/v1/me/location",
            &token,
            json!({"lat": 31.0, "lon": 121.2, "at_ms": now - 60_000}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let bad = app
        .post(
            "/api/v1/me/location",
            &token,
            json!({"lat": 95.0, "lon": 0.0, "at_ms": now}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .get(
            &format!("/api/v1/work-orders/{order}/suggestions?skills=hvac"),
            d,
        )
        .await;
    assert_eq!(ranked(&r.body), vec![far_hvac, near_hvac]);
    let from = r.body[0]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["kind"] == "distance")
        .unwrap()["from"]
        .clone();
    assert_eq!(from, "last_known");
}

async fn header_edits_and_flag_resolution_go_through_the_document(db: TestDb) {
    let app = TestApp::new(db).await;
    let f = Fixture::new(&app).await;
    let d = &f.dispatcher.token;
    let wo = &f.work_order;
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/v1/work-orders/{wo}"),
            Some(d),
            Some(
                json!({"problem": "Leak at the expansion valve", "sla_due_ms": 1_900_000_000_000i64,
                        "site": {"address": "8 New Quay", "lat": 31.3, "lon": 121.6}}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["problem"], "Leak at the expansion valve");
    assert_eq!(r.body["site"]["address"], "8 New Quay");
    assert_eq!(r.body["sla_due_ms"], 1_900_000_000_000i64);
    let cleared = app
        .call(
            Method::PATCH,
            &format!("/api/v1/work-orders/{wo}"),
            Some(d),
            Some(json!({"sla_due_ms": null})),
        )
        .await;
    assert_eq!(cleared.body["sla_due_ms"], Value::Null);
    let bad = app
        .call(
            Method::PATCH,
            &format!("/api/v1/work-orders/{wo}"),
            Some(d),
            Some(json!({"site": {"address": "x", "lat": 120.0, "lon": 0.0}})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let doc = app
        .get(&format!("/api/v1/work-orders/{wo}/document"), d)
        .await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(
        doc.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "header")
    );
    let missing = app
        .call(
            Method::POST,
            &format!("/api/v1/work-orders/{wo}/flags/nope/resolve"),
            Some(d),
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

/// A Berlin deployment: an engineer working 08:00-17:00 is on shift for a visit at 08:30 local
/// time in July (06:30 UTC, summer time) and in January (07:30 UTC, winter time), and off shift
/// for one at 07:30 local in July (05:30 UTC). A fixed offset would get one season wrong.
async fn working_hours_are_read_in_the_deployments_zone_summer_and_winter(db: TestDb) {
    let settings = lastmile_server::config::Settings {
        time_zone: jiff::tz::TimeZone::get("Europe/Berlin").unwrap(),
        ..Default::default()
    };
    let app = TestApp::with_settings(db, settings).await;
    let f = Fixture::new(&app).await;
    let d = &f.dispatcher.token;
    let engineer = app
        .post(
            "/api/v1/engineers",
            d,
            json!({
                "email": "day.shift@example.test", "name": "Day Shift", "password": "long enough pw",
                "skills": ["hvac"], "home": {"lat": 52.52, "lon": 13.40},
                "working_hours": {"days": [1,2,3,4,5,6,7], "start_minute": 480, "end_minute": 1020},
            }),
        )
        .await;
    assert_eq!(engineer.status, StatusCode::CREATED, "{:?}", engineer.body);
    let engineer = engineer.body["id"].as_str().unwrap().to_owned();
    let order = app
        .post(
            "/api/v1/work-orders",
            d,
            json!({"customer_id": f.customer_id, "site": {"address": "Alexanderplatz", "lat": 52.5219, "lon": 13.4132}, "problem": "Heat pump"}),
        )
        .await;
    let order = order.body["id"].as_str().unwrap().to_owned();
    let utc = |s: &str| s.parse::<jiff::Timestamp>().unwrap().as_millisecond();
    let reasons_at = async |start: &str| {
        let start = utc(start);
        let r = app
            .post(
                &format!("/api/v1/work-orders/{order}/schedule"),
                d,
                json!({"start_ms": start, "end_ms": start + 3_600_000}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let s = app
            .get(&format!("/api/v1/work-orders/{order}/suggestions"), d)
            .await;
        assert_eq!(s.status, StatusCode::OK, "{:?}", s.body);
        let ours = s
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["engineer_id"] == engineer.as_str())
            .expect("the day-shift engineer is suggested")
            .clone();
        ours["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["kind"] == "available" || x["kind"] == "off_shift")
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        reasons_at("2026-07-01T06:30:00Z").await,
        vec![json!({"kind": "available"})],
        "08:30 summer time is on shift"
    );
    assert_eq!(
        reasons_at("2026-01-07T07:30:00Z").await,
        vec![json!({"kind": "available"})],
        "08:30 winter time is on shift"
    );
    assert_eq!(
        reasons_at("2026-07-01T05:30:00Z").await,
        vec![json!({"kind": "off_shift", "minutes": 30})],
        "07:30-08:30 summer time starts half an hour before the shift"
    );
}
