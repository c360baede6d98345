//! Sign-in, tokens, throttling and device revocation on both backends.

use crate::common::{self, Fixture, PASSWORD, TestApp, TestDb};
use axum::http::{Method, StatusCode, header};
use lastmile_server::accounts;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

conformance!(
    login_issues_a_token_and_logout_revokes_it,
    unknown_user_and_wrong_password_answer_alike,
    failed_logins_are_rate_limited_per_account,
    revoked_device_token_answers_device_revoked,
);

async fn login_issues_a_token_and_logout_revokes_it(db: TestDb) {
    let app = TestApp::new(db).await;
    let f = Fixture::new(&app).await;
    let r = app.login("  Dispatcher@Example.test ", PASSWORD).await;
    // The email exists in both organisations: name one.
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "organisation_required");
    let r = app.login("admin@example.test", PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["user"]["role"], "admin");
    let token = r.body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("lms_"));
    // Only the hash is stored.
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE token_hash = $1")
        .bind(&token)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(stored, 0);
    let me = app.get("/api/v1/me", &token).await;
    assert_eq!(me.body["user"]["id"], f.admin.id.to_string());
    let r = app
        .call(Method::POST, "/api/v1/auth/logout", Some(&token), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let me = app.get("/api/v1/me", &token).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert_eq!(me.code(), "unauthorized");
    // With the organisation named, the shared email signs in.
    let r = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "dispatcher@example.test", "password": PASSWORD, "organisation": "Org B"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["user"]["org_id"], f.other_org.to_string());
    // Expired sessions are refused.
    sqlx::query("UPDATE sessions SET expires_at = 0 WHERE token_hash = $1")
        .bind(lastmile_server::auth::password::hash_token(&f.admin.token))
        .execute(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(
        app.get("/api/v1/me", &f.admin.token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn unknown_user_and_wrong_password_answer_alike(db: TestDb) {
    let app = TestApp::new(db).await;
    let _f = Fixture::new(&app).await;
    let mut wrong = Duration::MAX;
    let mut unknown = Duration::MAX;
    let mut bodies = BTreeSet::new();
    for i in 0..3 {
        let t = Instant::now();
        let r = app
            .login("admin@example.test", &format!("wrong password {i}"))
            .await;
        wrong = wrong.min(t.elapsed());
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        bodies.insert(r.body.to_string());
        let t = Instant::now();
        let r = app
            .login(&format!("nobody{i}@example.test"), PASSWORD)
            .await;
        unknown = unknown.min(t.elapsed());
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        bodies.insert(r.body.to_string());
    }
    assert_eq!(bodies.len(), 1, "same code and message: {bodies:?}");
    // An unknown account still pays for one argon2 verification (loose bound: timing noise).
    assert!(
        unknown * 4 >= wrong,
        "unknown {unknown:?} vs wrong password {wrong:?}"
    );
}

async fn failed_logins_are_rate_limited_per_account(db: TestDb) {
    let app = TestApp::new(db).await;
    let f = Fixture::new(&app).await;
    for _ in 0..5 {
        let r = app.login(&f.admin.email, "wrong password").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = app.login(&f.admin.email, "wrong password").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.code(), "rate_limited");
    let retry: u64 = r.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    // Locked even with the right password, until the window ends.
    assert_eq!(
        app.login(&f.admin.email, PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another account from the same address is not affected.
    assert_eq!(
        app.login(&f.warehouse.email, PASSWORD).await.status,
        StatusCode::OK
    );
}

async fn revoked_device_token_answers_device_revoked(db: TestDb) {
    let app = TestApp::new(db).await;
    let f = Fixture::new(&app).await;
    let me = app.get("/api/v1/me", &f.device_token).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["device_id"], f.device_id.as_str());
    // Another engineer cannot take the device over while it is active.
    let r = app
        .post(
            "/api/v1/devices",
            &f.other_engineer.token,
            json!({"device_id": f.device_id}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // The dispatcher revokes it.
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/v1/devices/{}", f.device_id),
            Some(&f.dispatcher.token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let me = app.get("/api/v1/me", &f.device_token).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert_eq!(me.code(), "device_revoked");
    // Other bad tokens are plain unauthorized.
    for bad in ["lmd_0000", "lms_0000", "garbage"] {
        let r = app.get("/api/v1/me", bad).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNAUTHORIZED, "unauthorized")
        );
    }
    let r = app.call(Method::GET, "/api/v1/me", None, None).await;
    assert_eq!(r.code(), "unauthorized");
    // The admin command does the same.
    let (id, token) = common::register(&app, &f.engineer, "phone-2").await;
    assert!(
        accounts::revoke_device(&app.state.db, f.org, &id)
            .await
            .unwrap()
    );
    assert_eq!(app.get("/api/v1/me", &token).await.code(), "device_revoked");
    // Signing in again on the same phone re-registers it with a new token.
    let (_, fresh) = common::register(&app, &f.engineer, "phone-2").await;
    assert_eq!(app.get("/api/v1/me", &fresh).await.status, StatusCode::OK);
    // The list shows the engineer's own devices only.
    let list = app.get("/api/v1/devices", &f.engineer.token).await;
    assert!(
        list.body
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["user_id"] == f.engineer.id.to_string())
    );
}
