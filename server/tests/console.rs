//! The web console without a browser, on SQLite and PostgreSQL: who may open and post to every
//! console route (the console's counterpart of `access.rs`), cookie sessions, CSRF, and the
//! board's render time on the demo data.

#[macro_use]
mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{Fixture, PASSWORD, Response, TestApp, TestDb};
use lastmile_server::auth::password::hash_token;
use lastmile_server::console::{CSRF_HEADER, SESSION_COOKIE, csrf_token};
use std::collections::BTreeSet;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Anonymous,
    Engineer,
    Customer,
    OtherOrg,
    Dispatcher,
    Warehouse,
    Admin,
}

const WHO: [Who; 7] = [
    Who::Anonymous,
    Who::Engineer,
    Who::Customer,
    Who::OtherOrg,
    Who::Dispatcher,
    Who::Warehouse,
    Who::Admin,
];

struct Row {
    method: &'static str,
    path: &'static str,
    /// A form body (`_csrf` is added).
    form: Option<&'static str>,
    expect: [u16; 7],
}

const fn row(
    method: &'static str,
    path: &'static str,
    form: Option<&'static str>,
    expect: [u16; 7],
) -> Row {
    Row {
        method,
        path,
        form,
        expect,
    }
}

// 303: a redirect (to /login for nobody; after a form, to the next page).
#[rustfmt::skip]
const TABLE: &[Row] = &[
    //                                                                     anon eng  cus  oth  dsp  whs  adm
    row("GET", "/", None,                                                 [303, 303, 303, 303, 303, 303, 303]),
    row("GET", "/login", None,                                            [200, 200, 200, 200, 200, 200, 200]),
    row("GET", "/lang/zh-CN", None,                                       [303, 303, 303, 303, 303, 303, 303]),
    row("GET", "/console/assets/console.css", None,                       [200, 200, 200, 200, 200, 200, 200]),
    row("GET", "/console/assets/console.js", None,                        [200, 200, 200, 200, 200, 200, 200]),
    row("GET", "/console", None,                                          [303, 403, 403, 303, 303, 303, 303]),
    row("GET", "/console/board", None,                                    [303, 403, 403, 200, 200, 403, 200]),
    row("GET", "/console/board?view=week", None,                          [303, 403, 403, 200, 200, 403, 200]),
    row("GET", "/console/board/fragment", None,                           [303, 403, 403, 200, 200, 403, 200]),
    row("GET", "/console/map", None,                                      [303, 403, 403, 200, 200, 403, 200]),
    row("GET", "/console/orders/new", None,                               [303, 403, 403, 200, 200, 403, 200]),
    row("GET", "/console/orders/{wo}", None,                              [303, 403, 403, 404, 200, 403, 200]),
    row("GET", "/console/orders/{wo}/edit", None,                         [303, 403, 403, 404, 200, 403, 200]),
    row("GET", "/console/orders/{wo}/assign", None,                       [303, 403, 403, 404, 200, 403, 200]),
    row("GET", "/console/orders/{wo}/blobs/{hash}", None,                 [303, 403, 403, 404, 404, 403, 404]),
    row("GET", "/console/orders/{wo}/blobs/{hash}/thumbnail", None,       [303, 403, 403, 404, 404, 403, 404]),
    row("GET", "/console/engineers", None,                                [303, 403, 403, 200, 200, 403, 200]),
    row("GET", "/console/engineers/{eng}", None,                          [303, 403, 403, 404, 200, 403, 200]),
    row("GET", "/console/stock", None,                                    [303, 403, 403, 403, 403, 200, 200]),
    row("GET", "/console/stock?q=x&kind=van", None,                       [303, 403, 403, 403, 403, 200, 200]),
    row("GET", "/console/movements", None,                                [303, 403, 403, 403, 403, 200, 200]),
    row("GET", "/console/low-stock", None,                                [303, 403, 403, 403, 403, 200, 200]),
    row("GET", "/console/serials?serial=S-404", None,                     [303, 403, 403, 403, 403, 200, 200]),
    row("GET", "/console/operations", None,                               [303, 403, 403, 403, 403, 200, 200]),
    row("GET", "/console/requests", None,                                 [303, 403, 403, 403, 403, 200, 200]),
    row("GET", "/console/discrepancies", None,                            [303, 403, 403, 403, 403, 200, 200]),
    row("GET", "/console/catalog", None,                                  [303, 403, 403, 403, 403, 200, 200]),
    row("GET", "/console/catalog/export.csv", None,                       [303, 403, 403, 403, 403, 200, 200]),
    row("GET", "/console/catalog/imports/no-such-job", None,              [303, 403, 403, 403, 403, 404, 404]),
    row("GET", "/console/catalog/imports/no-such-job/errors", None,       [303, 403, 403, 403, 403, 404, 404]),
    row("GET", "/console/preferences", None,                              [303, 403, 403, 200, 200, 200, 200]),
    // Forms.
    row("POST", "/console/orders/new", Some("site=C-1%2F{site}&problem=Leak&priority=high"),
                                                                          [303, 403, 403, 422, 303, 403, 303]),
    row("POST", "/console/orders/{wo}/assign", Some("engineer_id={eng}"), [303, 403, 403, 404, 303, 403, 303]),
    row("POST", "/console/orders/{wo}/edit",
        Some("problem=Leak&address=1+Dock+Rd&lat=31.2&lon=121.4&priority=urgent&sla_due=2030-01-01T10:00"),
                                                                          [303, 403, 403, 404, 303, 403, 303]),
    row("POST", "/console/orders/{wo}/flags/no-such-flag/resolve", None,  [303, 403, 403, 404, 404, 403, 404]),
    row("POST", "/console/engineers/{eng}", Some("skills=hvac&day1=1&start=08:00&end=17:00"),
                                                                          [303, 403, 403, 404, 303, 403, 303]),
    row("POST", "/console/operations/receive", Some("location=WH-X&supplier=S&sku0=NO-SUCH&qty0=1"),
                                                                          [303, 403, 403, 403, 403, 422, 422]),
    row("POST", "/console/requests/no-such/decide", Some("approved_qty=1&action=approve"),
                                                                          [303, 403, 403, 403, 403, 404, 404]),
    row("POST", "/console/discrepancies/no-such/resolve", Some("note=ok"), [303, 403, 403, 403, 403, 404, 404]),
    // The import takes the CSV as its body (the page's script sends the CSRF token as a header);
    // a form body is no catalog: csv_invalid.
    row("POST", "/console/catalog/imports", Some("x=1"),                  [303, 403, 403, 403, 403, 422, 422]),
    row("POST", "/console/devices/{dev}/revoke", None,                    [303, 403, 403, 404, 303, 403, 303]),
    row("POST", "/console/orders/{wo}/status", Some("status=cancelled"),  [303, 403, 403, 404, 303, 403, 303]),
    // Reopen the cancelled order; closing it now is a transition the status machine refuses.
    row("POST", "/console/orders/{wo}/status", Some("status=new"),        [303, 403, 403, 404, 303, 403, 303]),
    row("POST", "/console/orders/{wo}/status", Some("status=closed"),     [303, 403, 403, 404, 409, 403, 409]),
    row("POST", "/console/preferences", Some("language=en&time_zone=Europe%2FBerlin"),
                                                                          [303, 403, 403, 303, 303, 303, 303]),
    row("POST", "/console/preferences", Some("language=en&time_zone=Mars%2FOlympus_Mons"),
                                                                          [303, 403, 403, 422, 422, 422, 422]),
    row("POST", "/logout", None,                                          [303, 303, 303, 303, 303, 303, 303]),
];

fn token(f: &Fixture, who: Who) -> Option<&str> {
    Some(match who {
        Who::Anonymous => return None,
        Who::Engineer => &f.engineer.token,
        Who::Customer => &f.customer.token,
        Who::OtherOrg => &f.other_org_dispatcher.token,
        Who::Dispatcher => &f.dispatcher.token,
        Who::Warehouse => &f.warehouse.token,
        Who::Admin => &f.admin.token,
    })
}

async fn site_id(app: &TestApp, f: &Fixture) -> String {
    sqlx::query_scalar("SELECT id FROM customer_sites WHERE org_id = $1 AND customer_id = $2")
        .bind(f.org.to_string())
        .bind(&f.customer_id)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap()
}

/// A console request: the session cookie of `token`, and for a form the CSRF field of
/// `csrf_of` (normally the same session).
async fn console(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    form: Option<&str>,
    csrf_of: Option<&str>,
) -> Response {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header(header::COOKIE, format!("{SESSION_COOKIE}={t}"));
    }
    let req = match form {
        Some(body) => {
            let mut body = body.to_owned();
            if let Some(c) = csrf_of {
                body.push_str(&format!("&_csrf={}", csrf_token(&hash_token(c))));
            }
            req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
        }
        None => req.body(Body::empty()),
    }
    .unwrap();
    app.send(req).await
}

async fn every_console_route_answers_every_caller_as_the_table_says(db: TestDb) {
    let app = TestApp::new(db).await;
    let mut failures = Vec::new();
    for (column, who) in WHO.iter().enumerate() {
        let f = Fixture::new(&app).await;
        let site = site_id(&app, &f).await;
        for r in TABLE {
            let fill = |s: &str| {
                s.replace("{wo}", &f.work_order)
                    .replace("{eng}", &f.engineer.id.to_string())
                    .replace("{dev}", &f.device_id)
                    .replace("{site}", &site)
                    .replace("{hash}", &"ab".repeat(32))
            };
            let path = fill(r.path);
            let tok = token(&f, *who);
            let form = match (r.method, r.form) {
                ("POST", None) => Some(String::new()),
                (_, form) => form.map(fill),
            };
            let resp = console(
                &app,
                r.method.parse().unwrap(),
                &path,
                tok,
                form.as_deref(),
                tok,
            )
            .await;
            let want = r.expect[column];
            if resp.status.as_u16() != want {
                failures.push(format!(
                    "{} {} as {who:?}: got {}, want {want}: {}",
                    r.method,
                    r.path,
                    resp.status,
                    resp.body.to_string().chars().take(300).collect::<String>()
                ));
            }
            if resp.status == StatusCode::SEE_OTHER
                && *who == Who::Anonymous
                && path.starts_with("/console")
            {
                let to = resp.headers[header::LOCATION].to_str().unwrap();
                assert!(to.starts_with("/login"), "{path} -> {to}");
            }
            assert_eq!(
                resp.headers["x-frame-options"], "DENY",
                "{} {}",
                r.method, r.path
            );
            // Error pages are HTML pages, not the API's JSON.
            if resp.status.is_client_error() {
                assert!(
                    resp.body.is_string(),
                    "{} {}: {}",
                    r.method,
                    r.path,
                    resp.body
                );
            }
        }
        for org in [f.org, f.other_org] {
            sqlx::query("UPDATE organisations SET name = id WHERE id = $1")
                .bind(org.to_string())
                .execute(app.state.db.pool())
                .await
                .unwrap();
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

async fn forms_without_the_sessions_csrf_token_are_refused(db: TestDb) {
    let app = TestApp::new(db).await;
    let f = Fixture::new(&app).await;
    let path = format!("/console/orders/{}/assign", f.work_order);
    let form = "engineer_id=";
    let d = Some(f.dispatcher.token.as_str());
    // No token, another session's token, a bare header: refused, nothing changed.
    for csrf in [None, Some(f.admin.token.as_str())] {
        let r = console(&app, Method::POST, &path, d, Some(form), csrf).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
        assert!(r.body.as_str().unwrap().contains("another site"));
    }
    let order = app
        .get(
            &format!("/api/v1/work-orders/{}", f.work_order),
            &f.dispatcher.token,
        )
        .await;
    assert_eq!(order.body["assignee_id"], f.engineer.id.to_string());
    // The header the console's fetch calls send works; so does the form field.
    let req = Request::post(&path)
        .header(
            header::COOKIE,
            format!("{SESSION_COOKIE}={}", f.dispatcher.token),
        )
        .header(CSRF_HEADER, csrf_token(&hash_token(&f.dispatcher.token)))
        .header("x-console-fetch", "1")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    assert_eq!(app.send(req).await.status, StatusCode::NO_CONTENT);
    let r = console(&app, Method::POST, &path, d, Some(form), d).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}

async fn the_console_takes_cookies_and_the_api_takes_bearer_tokens(db: TestDb) {
    let app = TestApp::new(db).await;
    let f = Fixture::new(&app).await;
    // A bearer token does not open the console (it would bypass CSRF) ...
    let r = app.get("/console/board", &f.dispatcher.token).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // ... and a cookie does not open the API (so the API needs no CSRF protection).
    let req = Request::get("/api/v1/work-orders")
        .header(
            header::COOKIE,
            format!("{SESSION_COOKIE}={}", f.dispatcher.token),
        )
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(req).await.status, StatusCode::UNAUTHORIZED);
    // A device token is no console session.
    let r = console(
        &app,
        Method::GET,
        "/console/board",
        Some(&f.device_token),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}

async fn signing_in_sets_a_strict_cookie_and_signing_out_revokes_it(db: TestDb) {
    let app = TestApp::new(db).await;
    let f = Fixture::new(&app).await;
    let page = console(
        &app,
        Method::GET,
        "/login?next=/console/map",
        None,
        None,
        None,
    )
    .await;
    let login_cookie = page.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    let token = login_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let post = |csrf: String, password: &str| {
        Request::post("/login")
            .header(header::COOKIE, format!("lastmile_login={token}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "_csrf={csrf}&email={}&password={}&next=%2Fconsole%2Fmap",
                // The fixture's dispatcher email exists in both organisations; the admin's not.
                f.admin.email.replace('@', "%40"),
                password.replace(' ', "+")
            )))
            .unwrap()
    };
    // A forged login form (no matching cookie value) is refused; a wrong password too.
    assert_eq!(
        app.send(post("forged".into(), PASSWORD)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.send(post(token.clone(), "wrong password")).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = app.send(post(token.clone(), PASSWORD)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.headers[header::LOCATION], "/console/map");
    let set: Vec<_> = r
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = set.iter().find(|c| c.starts_with(SESSION_COOKIE)).unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    let value = session
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    assert!(value.starts_with("lms_"));
    let board = console(&app, Method::GET, "/console/map", Some(&value), None, None).await;
    assert_eq!(board.status, StatusCode::OK);
    // The same token works as a bearer token for the API (one session, two doors).
    assert_eq!(app.get("/api/v1/me", &value).await.status, StatusCode::OK);
    let out = console(
        &app,
        Method::POST,
        "/logout",
        Some(&value),
        Some(""),
        Some(&value),
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let after = console(&app, Method::GET, "/console/map", Some(&value), None, None).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.get("/api/v1/me", &value).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn pages_follow_the_users_language(db: TestDb) {
    let app = TestApp::new(db).await;
    let f = Fixture::new(&app).await;
    let get = |lang: Option<&'static str>, cookie_lang: Option<&'static str>| {
        let mut req = Request::get("/console/board");
        let mut cookie = format!("{SESSION_COOKIE}={}", f.dispatcher.token);
        if let Some(l) = cookie_lang {
            cookie.push_str(&format!("; lastmile_lang={l}"));
        }
        req = req.header(header::COOKIE, cookie);
        if let Some(l) = lang {
            req = req.header(header::ACCEPT_LANGUAGE, l);
        }
        req.body(Body::empty()).unwrap()
    };
    let zh = app.send(get(Some("zh-CN,zh;q=0.9,en;q=0.5"), None)).await;
    assert!(zh.body.as_str().unwrap().contains("<html lang=\"zh-CN\">"));
    assert!(zh.body.as_str().unwrap().contains("调度看板"));
    let en = app.send(get(Some("zh-CN"), Some("en"))).await;
    assert!(en.body.as_str().unwrap().contains("Dispatch board"));

    // A choice made while signed in is kept with the account: another browser (no language
    // cookie, an English Accept-Language) shows the user's language.
    let choose = Request::get("/lang/zh-CN?next=/console/board")
        .header(
            header::COOKIE,
            format!("{SESSION_COOKIE}={}", f.dispatcher.token),
        )
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(choose).await.status, StatusCode::SEE_OTHER);
    let elsewhere = app.send(get(Some("en-GB,en;q=0.9"), None)).await;
    assert!(
        elsewhere
            .body
            .as_str()
            .unwrap()
            .contains("<html lang=\"zh-CN\">"),
        "the user's language did not follow them"
    );
    // ... and it is theirs alone: another user in that browser gets the browser's language.
    let other = Request::get("/console/stock")
        .header(
            header::COOKIE,
            format!("{SESSION_COOKIE}={}", f.warehouse.token),
        )
        .header(header::ACCEPT_LANGUAGE, "en")
        .body(Body::empty())
        .unwrap();
    assert!(
        app.send(other)
            .await
            .body
            .as_str()
            .unwrap()
            .contains("<html lang=\"en\">")
    );
}

async fn the_map_draws_tiles_only_when_configured(db: TestDb) {
    let settings = lastmile_server::config::Settings {
        map_tiles: Some("https://tiles.example/{z}/{x}/{y}.png".into()),
        map_attribution: Some("© Example".into()),
        ..Default::default()
    };
    let app = TestApp::with_settings(db, settings).await;
    let f = Fixture::new(&app).await;
    let r = console(
        &app,
        Method::GET,
        "/console/map",
        Some(&f.dispatcher.token),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let html = r.body.as_str().unwrap();
    assert!(
        html.contains("<image href=\"https://tiles.example/"),
        "{html}"
    );
    assert!(html.contains("© Example"));
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("img-src 'self' data: https://tiles.example;"),
        "{csp}"
    );
    // Other pages do not admit the tile server.
    let board = console(
        &app,
        Method::GET,
        "/console/board",
        Some(&f.dispatcher.token),
        None,
        None,
    )
    .await;
    let csp = board.headers["content-security-policy"].to_str().unwrap();
    assert!(!csp.contains("tiles.example"), "{csp}");
}

async fn warehouse_forms_post_several_lines_through_the_ledger(db: TestDb) {
    let app = TestApp::new(db).await;
    let f = Fixture::new(&app).await;
    let w = &f.warehouse.token;
    let r = app
        .post(
            "/api/v1/inventory/locations",
            w,
            serde_json::json!({"code": "WH-T", "name": "Test", "kind": "warehouse"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    for sku in ["P-1", "P-2"] {
        let r = app
            .post(
                "/api/v1/inventory/parts",
                w,
                serde_json::json!({"sku": sku, "name": sku, "unit": "pcs"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    let form = "location=WH-T&supplier=Acme&sku0=P-1&qty0=5&sku1=P-2&qty1=7&sku2=&qty2=";
    let r = console(
        &app,
        Method::POST,
        "/console/operations/receive",
        Some(w),
        Some(form),
        Some(w),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{:?}", r.body);
    let stock = app.get("/api/v1/inventory/stock?location=WH-T", w).await;
    let qty = |sku: &str| {
        stock.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["sku"] == sku)
            .map(|l| l["qty"].as_i64().unwrap())
    };
    assert_eq!((qty("P-1"), qty("P-2")), (Some(5), Some(7)));
    // A bad line refuses the whole form: nothing moves.
    let form = "location=WH-T&supplier=Acme&sku0=P-1&qty0=5&sku1=NO-SUCH&qty1=1";
    let r = console(
        &app,
        Method::POST,
        "/console/operations/receive",
        Some(w),
        Some(form),
        Some(w),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = console(
        &app,
        Method::GET,
        "/console/stock?location=WH-T",
        Some(w),
        None,
        None,
    )
    .await;
    assert!(page.body.as_str().unwrap().contains("data-sku=\"P-1\""));
    let again = app
        .get("/api/v1/inventory/stock?location=WH-T&sku=P-1", w)
        .await;
    assert_eq!(again.body["items"][0]["qty"], 5);
}

async fn the_live_board_hears_another_dispatchers_assignment(db: TestDb) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let app = TestApp::new(db).await;
    let f = Fixture::new(&app).await;
    let req = Request::get("/console/events")
        .header(
            header::COOKIE,
            format!("{SESSION_COOKIE}={}", f.admin.token),
        )
        .body(Body::empty())
        .unwrap();
    let resp = app.router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = resp.into_body();
    // The dispatcher un-assigns the order through the API, as another browser or a script would.
    let r = app
        .post(
            &format!("/api/v1/work-orders/{}/assign", f.work_order),
            &f.dispatcher.token,
            serde_json::json!({"engineer_id": null}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let started = std::time::Instant::now();
    let mut seen = String::new();
    while !seen.contains("event: change") {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(5), body.frame())
            .await
            .expect("a change event within 5 s")
            .expect("stream open")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
        }
    }
    // Woken by the feed, not by the 3 s safety net.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // Another organisation's dispatcher is not told.
    let req = Request::get("/console/events")
        .header(
            header::COOKIE,
            format!("{SESSION_COOKIE}={}", f.other_org_dispatcher.token),
        )
        .body(Body::empty())
        .unwrap();
    let mut other = app.router.clone().oneshot(req).await.unwrap().into_body();
    let r = app
        .post(
            &format!("/api/v1/work-orders/{}/assign", f.work_order),
            &f.dispatcher.token,
            serde_json::json!({"engineer_id": f.engineer.id.to_string()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let quiet = tokio::time::timeout(std::time::Duration::from_millis(500), other.frame()).await;
    assert!(quiet.is_err(), "another organisation heard of the change");
}

conformance!(
    the_live_board_hears_another_dispatchers_assignment,
    warehouse_forms_post_several_lines_through_the_ledger,
    the_map_draws_tiles_only_when_configured,
    every_console_route_answers_every_caller_as_the_table_says,
    forms_without_the_sessions_csrf_token_are_refused,
    the_console_takes_cookies_and_the_api_takes_bearer_tokens,
    signing_in_sets_a_strict_cookie_and_signing_out_revokes_it,
    pages_follow_the_users_language,
    times_follow_the_users_time_zone_through_daylight_saving,
);

/// A dispatcher in Berlin and one in Shanghai see the same order at their own clock times; a time
/// typed or dropped in Berlin is read in Berlin, summer and winter time alike; an unknown zone is
/// refused and changes nothing.
async fn times_follow_the_users_time_zone_through_daylight_saving(db: TestDb) {
    let settings = lastmile_server::config::Settings {
        time_zone: jiff::tz::TimeZone::get("Asia/Shanghai").unwrap(),
        ..Default::default()
    };
    let app = TestApp::with_settings(db, settings).await;
    let f = Fixture::new(&app).await;
    let site = site_id(&app, &f).await;
    // Leaked for the test's closures: two short strings.
    let berlin: &'static str = f.dispatcher.token.clone().leak();
    let shanghai: &'static str = f.admin.token.clone().leak();
    let form = |path: String, token: &'static str, body: String| {
        let app = &app;
        async move {
            console(
                app,
                Method::POST,
                &path,
                Some(token),
                Some(&body),
                Some(token),
            )
            .await
        }
    };
    assert_eq!(
        form(
            "/console/preferences".into(),
            berlin,
            "language=en&time_zone=Europe%2FBerlin".into()
        )
        .await
        .status,
        StatusCode::SEE_OTHER
    );
    let prefs = console(
        &app,
        Method::GET,
        "/console/preferences",
        Some(berlin),
        None,
        None,
    )
    .await;
    let page = prefs.body.as_str().unwrap();
    assert!(
        page.contains(r#"<option value="Europe/Berlin" selected>"#),
        "the chosen zone is not selected"
    );
    assert!(
        page.contains("Asia/Shanghai"),
        "the deployment's zone is named"
    );

    // Typed in Berlin in summer (UTC+2): 09:00 is 07:00 UTC.
    let created = form(
        "/console/orders/new".into(),
        berlin,
        format!(
            "site=C-1%2F{site}&problem=Boiler&priority=normal&window_start=2026-07-01T09:00&window_end=2026-07-01T11:00"
        ),
    )
    .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let (id, start): (String, i64) = sqlx::query_as(
        "SELECT id, window_start FROM work_orders WHERE org_id = $1 AND problem = 'Boiler'",
    )
    .bind(f.org.to_string())
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    let utc = |s: &str| s.parse::<jiff::Timestamp>().unwrap().as_millisecond();
    assert_eq!(start, utc("2026-07-01T07:00:00Z"));

    // The same instant on the order page: 09:00 in Berlin, 15:00 for the Shanghai user, who
    // has no zone of their own and gets the deployment's.
    let page = |token: &'static str| {
        let path = format!("/console/orders/{id}");
        let app = &app;
        async move {
            console(app, Method::GET, &path, Some(token), None, None)
                .await
                .body
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    assert!(page(berlin).await.contains("2026-07-01T09:00+02:00"));
    assert!(page(shanghai).await.contains("2026-07-01T15:00+08:00"));

    // Dropped on the board at 09:00 on the morning the clocks go forward (2026-03-29, 02:00 ->
    // 03:00): 09:00 summer time, 07:00 UTC, not midnight + 9 h (08:00 UTC).
    let dropped = form(
        format!("/console/orders/{id}/assign"),
        berlin,
        format!(
            "engineer_id={}&day=2026-03-29&minute=540&duration_min=90",
            f.engineer.id
        ),
    )
    .await;
    assert_eq!(dropped.status, StatusCode::SEE_OTHER, "{}", dropped.body);
    let (start, end): (i64, i64) =
        sqlx::query_as("SELECT window_start, window_end FROM work_orders WHERE id = $1")
            .bind(&id)
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
    assert_eq!(start, utc("2026-03-29T07:00:00Z"));
    assert_eq!(end - start, 90 * 60_000);

    // An unknown zone is refused, and the chosen one stays.
    let refused = form(
        "/console/preferences".into(),
        berlin,
        "language=en&time_zone=Europe%2FAtlantis".into(),
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.as_str().unwrap().contains("Europe/Atlantis"));
    assert!(page(berlin).await.contains("2026-03-29T09:00+02:00"));
    // Back to the deployment's zone.
    form(
        "/console/preferences".into(),
        berlin,
        "language=en&time_zone=".into(),
    )
    .await;
    assert!(page(berlin).await.contains("2026-03-29T15:00+08:00"));
}

/// Every console route in `console::router` has a row (GETs and POSTs by their pattern).
#[test]
fn table_covers_every_console_route() {
    let src = include_str!("../src/console/mod.rs");
    let mut routes = BTreeSet::new();
    let mut rest = src;
    while let Some(i) = rest.find(".route(") {
        rest = &rest[i + 7..];
        let start = rest.find('"').unwrap() + 1;
        let end = start + rest[start..].find('"').unwrap();
        routes.insert(rest[start..end].to_owned());
    }
    let covered: BTreeSet<String> = TABLE
        .iter()
        .map(|r| r.path.split('?').next().unwrap().to_owned())
        .map(|p| {
            p.replace("{wo}", "{id}")
                .replace("{eng}", "{id}")
                .replace("{dev}", "{id}")
                .replace("no-such-job", "{id}")
                .replace("no-such-flag", "{flag}")
                .replace("no-such", "{id}")
                .replace("/receive", "/{kind}")
                .replace("/console.css", "/{file}")
                .replace("/console.js", "/{file}")
                .replace("/zh-CN", "/{code}")
        })
        .collect();
    let missing: Vec<_> = routes
        .iter()
        .filter(|r| !covered.contains(*r) && r.as_str() != "/console/events")
        .collect();
    assert!(
        missing.is_empty(),
        "console routes without a row: {missing:?}"
    );
}

/// A session for a demo account.
async fn demo_session(app: &TestApp, org: sync_core::OrgId, email: &str) -> String {
    use lastmile_server::auth::password::{TokenKind, new_token};
    let user: String = sqlx::query_scalar("SELECT id FROM users WHERE org_id = $1 AND email = $2")
        .bind(org.to_string())
        .bind(email)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    let (token, hash) = new_token(TokenKind::Session);
    lastmile_server::accounts::create_session(
        &app.state.db,
        org,
        user.parse().unwrap(),
        &hash,
        i64::MAX,
    )
    .await
    .unwrap();
    token
}

/// The order ids on a board page.
fn card_ids(html: &str) -> BTreeSet<String> {
    html.split("class=\"card ")
        .skip(1)
        .filter_map(|c| c.split("data-id=\"").nth(1))
        .filter_map(|c| c.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// The demo's second dispatcher works Puxi only: their board is a part of the first's, and an
/// order of Pudong is 404 to them in the console as in the API.
async fn a_territory_dispatcher_sees_only_their_side_of_the_river(db: TestDb) {
    let app = TestApp::new(db).await;
    let summary = lastmile_server::demo::seed(&app.state).await.unwrap();
    let all = demo_session(&app, summary.org, "dispatcher1@demo.lastmile.dev").await;
    let puxi = demo_session(&app, summary.org, "dispatcher2@demo.lastmile.dev").await;
    let board = |t: String| {
        let app = &app;
        async move {
            let r = console(
                app,
                Method::GET,
                "/console/board?view=week",
                Some(&t),
                None,
                None,
            )
            .await;
            assert_eq!(r.status, StatusCode::OK);
            card_ids(r.body.as_str().unwrap())
        }
    };
    let everything = board(all.clone()).await;
    let theirs = board(puxi.clone()).await;
    assert!(!theirs.is_empty() && theirs.is_subset(&everything));
    let elsewhere = everything
        .difference(&theirs)
        .next()
        .expect("an order outside Puxi");
    let path = format!("/console/orders/{elsewhere}");
    let r = console(&app, Method::GET, &path, Some(&puxi), None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let api = app
        .get(&format!("/api/v1/work-orders/{elsewhere}"), &puxi)
        .await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    let r = console(&app, Method::GET, &path, Some(&all), None, None).await;
    assert_eq!(r.status, StatusCode::OK);
}

/// The board and the other main pages on the demo data (500 orders, 20 engineers, about 300
/// parts): server time per render, printed, not
/// asserted (a timed assertion would be flaky on a loaded machine). The figures are in
/// docs/benchmarks.md with this command:
/// `cargo nextest run -p server --test console board_render_time --no-capture`.
async fn board_render_time_on_the_demo_data(db: TestDb) {
    let backend = if db.is_postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let settings = lastmile_server::config::Settings {
        time_zone: lastmile_server::demo::time_zone(),
        ..Default::default()
    };
    let app = TestApp::with_settings(db, settings).await;
    let summary = lastmile_server::demo::seed(&app.state).await.unwrap();
    let dispatcher = demo_session(&app, summary.org, "dispatcher1@demo.lastmile.dev").await;
    let warehouse = demo_session(&app, summary.org, "warehouse1@demo.lastmile.dev").await;
    // A closed order (a whole visit, parts, report, events), for the order page.
    let busiest: String = sqlx::query_scalar(
        "SELECT id FROM work_orders WHERE org_id = $1 AND status = 'closed' ORDER BY number LIMIT 1",
    )
    .bind(summary.org.to_string())
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    let order_page = format!("/console/orders/{busiest}");
    let pages: [(&str, &str); 11] = [
        (&dispatcher, "/console/board"),
        (&dispatcher, "/console/board?view=week"),
        (&dispatcher, "/console/board/fragment?view=week"),
        (&dispatcher, "/console/map"),
        (&dispatcher, &order_page),
        (&dispatcher, "/console/engineers"),
        (&warehouse, "/console/stock"),
        (&warehouse, "/console/movements"),
        (&warehouse, "/console/requests"),
        (&warehouse, "/console/low-stock"),
        (&warehouse, "/console/operations"),
    ];
    for (token, page) in pages {
        let mut server_ms = Vec::new();
        let mut total_ms = Vec::new();
        let mut cards = 0;
        for _ in 0..20 {
            let started = std::time::Instant::now();
            let r = console(&app, Method::GET, page, Some(token), None, None).await;
            total_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(r.status, StatusCode::OK, "{page}");
            let html = r.body.as_str().unwrap();
            cards = html.matches("class=\"card ").count();
            if let Some(t) = r.headers.get("server-timing") {
                let t = t.to_str().unwrap();
                let ms: f64 = t.rsplit('=').next().unwrap().parse().unwrap();
                server_ms.push(ms);
            }
        }
        server_ms.sort_by(f64::total_cmp);
        total_ms.sort_by(f64::total_cmp);
        let handler = if server_ms.is_empty() {
            String::new()
        } else {
            format!(
                ", handler (Server-Timing) median {:.1} ms",
                server_ms[server_ms.len() / 2]
            )
        };
        println!(
            "{backend}: {}: {cards} cards; whole request (session, page) median {:.1} ms, \
             max {:.1} ms{handler}",
            page.replace(&busiest, "{a closed order}"),
            total_ms[total_ms.len() / 2],
            total_ms[total_ms.len() - 1]
        );
    }
}

mod demo {
    use super::*;
    conformance!(
        board_render_time_on_the_demo_data,
        a_territory_dispatcher_sees_only_their_side_of_the_river
    );
}
