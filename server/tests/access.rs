//! Who may call what: every operation of the OpenAPI document, called by every kind of caller,
//! on SQLite and on PostgreSQL. A new route without a row here fails
//! `table_covers_every_route_of_the_openapi_document`.

#[macro_use]
mod common;

use axum::http::{Method, StatusCode};
use common::{Fixture, PASSWORD, TestApp, TestDb};
use serde_json::Value;
use std::collections::BTreeSet;

/// The callers, in the column order of [`TABLE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Admin,
    Dispatcher,
    Warehouse,
    /// The engineer the fixture's order is assigned to.
    Engineer,
    /// An engineer of the same organisation, not assigned.
    OtherEngineer,
    /// A user of the order's customer.
    Customer,
    /// A dispatcher of another organisation.
    OtherOrg,
    /// A revoked device token.
    Revoked,
    /// No token.
    Anonymous,
    /// The assigned engineer's registered phone (a device token).
    Device,
}

const WHO: [Who; 10] = [
    Who::Admin,
    Who::Dispatcher,
    Who::Warehouse,
    Who::Engineer,
    Who::OtherEngineer,
    Who::Customer,
    Who::OtherOrg,
    Who::Revoked,
    Who::Anonymous,
    Who::Device,
];

struct Row {
    method: &'static str,
    /// `{wo}` the fixture's order, `{eng}` its engineer, `{dev}` the engineer's active device.
    path: &'static str,
    body: Option<&'static str>,
    /// Expected status per caller, in [`WHO`] order.
    expect: [u16; 10],
}

const fn row(
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    expect: [u16; 10],
) -> Row {
    Row {
        method,
        path,
        body,
        expect,
    }
}

/// Rows run top to bottom against one fresh fixture per caller, so later rows see earlier
/// rows' changes (the order is cancelled only after it was read and edited; logout is last).
#[rustfmt::skip]
const TABLE: &[Row] = &[
    //                                                                       adm  dsp  whs  eng  en2  cus  oth  rev  anon dev
    row("GET", "/healthz", None,                                            [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    row("GET", "/readyz", None,                                             [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    row("GET", "/openapi.json", None,                                       [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    row("GET", "/docs", None,                                               [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    row("POST", "/api/v1/auth/login", Some(LOGIN),                          [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    row("GET", "/api/v1/me", None,                                          [200, 200, 200, 200, 200, 200, 200, 401, 401, 200]),
    row("GET", "/api/v1/devices", None,                                     [200, 200, 403, 200, 200, 403, 200, 401, 401, 200]),
    row("POST", "/api/v1/devices", Some(r#"{"device_id":"new-phone"}"#),   [403, 403, 403, 201, 201, 403, 403, 401, 401, 201]),
    row("GET", "/api/v1/work-orders", None,                                 [200, 200, 403, 403, 403, 403, 200, 401, 401, 403]),
    row("GET", "/api/v1/work-orders/{wo}", None,                            [200, 200, 403, 200, 404, 200, 404, 401, 401, 200]),
    row("POST", "/api/v1/work-orders", Some(NEW_ORDER),                     [201, 201, 403, 403, 403, 403, 422, 401, 401, 403]),
    // Spare parts. Warehouse staff and admins create the location, parts and stock the later
    // rows use (`{loc}` WH-A, `{sku}` ACC-1, `{serial}` S-1, `{van}` the engineer's van), so
    // other callers answer 404/422 where they may call but their organisation has none of it.
    row("POST", "/api/v1/inventory/locations", Some(r#"{"code":"WH-A","name":"Main","kind":"warehouse"}"#),
                                                                            [201, 403, 201, 403, 403, 403, 403, 401, 401, 403]),
    row("POST", "/api/v1/inventory/parts", Some(r#"{"sku":"ACC-1","name":"Access part","unit":"pcs"}"#),
                                                                            [201, 403, 201, 403, 403, 403, 403, 401, 401, 403]),
    row("POST", "/api/v1/inventory/parts", Some(r#"{"sku":"ACC-2","name":"Serial part","unit":"pcs","serial_tracked":true}"#),
                                                                            [201, 403, 201, 403, 403, 403, 403, 401, 401, 403]),
    row("POST", "/api/v1/inventory/receipts", Some(INV_RECEIPT),            [201, 403, 201, 403, 403, 403, 403, 401, 401, 403]),
    row("GET", "/api/v1/inventory/parts", None,                             [200, 200, 200, 200, 200, 403, 200, 401, 401, 200]),
    row("GET", "/api/v1/inventory/parts/{sku}", None,                       [200, 404, 200, 404, 404, 403, 404, 401, 401, 404]),
    row("PATCH", "/api/v1/inventory/parts/{sku}", Some(r#"{"name":"Access part 1"}"#),
                                                                            [200, 403, 200, 403, 403, 403, 403, 401, 401, 403]),
    row("GET", "/api/v1/inventory/catalog/export", None,                    [200, 403, 200, 403, 403, 403, 403, 401, 401, 403]),
    row("POST", "/api/v1/inventory/catalog/imports", None,                  [422, 403, 422, 403, 403, 403, 403, 401, 401, 403]),
    row("GET", "/api/v1/inventory/catalog/imports/{job}", None,             [404, 403, 404, 403, 403, 403, 403, 401, 401, 403]),
    row("GET", "/api/v1/inventory/catalog/imports/{job}/errors", None,      [404, 403, 404, 403, 403, 403, 403, 401, 401, 403]),
    row("GET", "/api/v1/inventory/locations", None,                         [200, 200, 200, 200, 200, 403, 200, 401, 401, 200]),
    row("GET", "/api/v1/inventory/locations/{loc}", None,                   [200, 404, 200, 404, 404, 403, 404, 401, 401, 404]),
    row("PUT", "/api/v1/inventory/locations/{loc}/levels/{sku}", Some(r#"{"reorder_point":2,"reorder_qty":5}"#),
                                                                            [200, 403, 200, 403, 403, 403, 403, 401, 401, 403]),
    row("GET", "/api/v1/inventory/stock", None,                             [200, 200, 200, 200, 200, 403, 200, 401, 401, 200]),
    row("GET", "/api/v1/inventory/movements", None,                         [200, 200, 200, 200, 200, 403, 200, 401, 401, 200]),
    row("POST", "/api/v1/inventory/issues", Some(r#"{"from":"WH-A","engineer_id":"{eng}","lines":[{"sku":"ACC-1","qty":2}]}"#),
                                                                            [201, 403, 201, 403, 403, 403, 403, 401, 401, 403]),
    row("POST", "/api/v1/inventory/transfers", Some(r#"{"from":"WH-A","to":"{van}","lines":[{"sku":"ACC-1","qty":1}]}"#),
                                                                            [201, 403, 201, 403, 403, 403, 403, 401, 401, 403]),
    row("POST", "/api/v1/inventory/returns", Some(r#"{"engineer_id":"{eng}","condition":"good","to":"WH-A","lines":[{"sku":"ACC-1","qty":1}]}"#),
                                                                            [201, 403, 201, 403, 403, 403, 403, 401, 401, 403]),
    row("POST", "/api/v1/inventory/adjustments", Some(r#"{"location":"WH-A","reason":"count","lines":[{"sku":"ACC-1","delta":1}]}"#),
                                                                            [201, 403, 201, 403, 403, 403, 403, 401, 401, 403]),
    row("POST", "/api/v1/inventory/supplier-returns", Some(r#"{"from":"WH-A","supplier":"S","lines":[{"sku":"ACC-1","qty":1}]}"#),
                                                                            [201, 403, 201, 403, 403, 403, 403, 401, 401, 403]),
    row("GET", "/api/v1/inventory/low-stock", None,                         [200, 200, 200, 403, 403, 403, 200, 401, 401, 403]),
    row("GET", "/api/v1/inventory/serials/{serial}", None,                  [200, 404, 200, 403, 403, 403, 404, 401, 401, 403]),
    row("GET", "/api/v1/inventory/reports/consumption", None,               [200, 200, 200, 403, 403, 403, 200, 401, 401, 403]),
    row("GET", "/api/v1/inventory/reservations", None,                      [200, 200, 200, 403, 403, 403, 200, 401, 401, 403]),
    row("POST", "/api/v1/inventory/reservations", Some(r#"{"work_order_id":"{wo}","location":"WH-A","sku":"ACC-1","qty":1}"#),
                                                                            [201, 422, 201, 403, 403, 403, 422, 401, 401, 403]),
    row("POST", "/api/v1/inventory/reservations/{res}/release", Some("{}"), [404, 404, 404, 403, 403, 403, 404, 401, 401, 403]),
    row("GET", "/api/v1/inventory/parts-requests", None,                    [200, 200, 200, 403, 403, 403, 200, 401, 401, 403]),
    row("POST", "/api/v1/inventory/parts-requests/{req}/decide", Some(r#"{"approved_qty":1}"#),
                                                                            [404, 403, 404, 403, 403, 403, 403, 401, 401, 403]),
    row("GET", "/api/v1/inventory/discrepancies", None,                     [200, 403, 200, 403, 403, 403, 403, 401, 401, 403]),
    row("POST", "/api/v1/inventory/discrepancies/{disc}/resolve", Some(r#"{"note":"checked"}"#),
                                                                            [404, 403, 404, 403, 403, 403, 403, 401, 401, 403]),
    row("GET", "/api/v1/inventory/events", None,                            [200, 403, 200, 403, 403, 403, 403, 401, 401, 403]),
    // Still in stock: a part cannot be withdrawn.
    row("DELETE", "/api/v1/inventory/parts/{sku}", None,                    [409, 403, 409, 403, 403, 403, 403, 401, 401, 403]),
    row("POST", "/api/v1/work-orders/{wo}/assign", Some(ASSIGN),            [200, 200, 403, 403, 403, 403, 404, 401, 401, 403]),
    row("POST", "/api/v1/work-orders/{wo}/schedule", Some(SCHEDULE),        [200, 200, 403, 403, 403, 403, 404, 401, 401, 403]),
    row("POST", "/api/v1/work-orders/{wo}/priority", Some(r#"{"priority":"urgent"}"#),
                                                                            [200, 200, 403, 403, 403, 403, 404, 401, 401, 403]),
    row("POST", "/api/v1/work-orders/{wo}/status", Some(r#"{"status":"cancelled"}"#),
                                                                            [200, 200, 403, 403, 403, 403, 404, 401, 401, 403]),
    row("GET", "/api/v1/engineers", None,                                   [200, 200, 403, 403, 403, 403, 200, 401, 401, 403]),
    row("POST", "/api/v1/engineers", Some(NEW_ENGINEER),                    [201, 201, 403, 403, 403, 403, 201, 401, 401, 403]),
    row("GET", "/api/v1/engineers/{eng}", None,                             [200, 200, 403, 200, 404, 403, 404, 401, 401, 200]),
    row("PATCH", "/api/v1/engineers/{eng}", Some(r#"{"skills":["hvac"]}"#), [200, 200, 403, 403, 403, 403, 404, 401, 401, 403]),
    row("GET", "/api/v1/customers", None,                                   [200, 200, 403, 403, 403, 403, 200, 401, 401, 403]),
    row("POST", "/api/v1/customers", Some(r#"{"name":"New Co"}"#),          [201, 201, 403, 403, 403, 403, 201, 401, 401, 403]),
    row("PATCH", "/api/v1/work-orders/{wo}", Some(r#"{"problem":"Leak at the valve"}"#),
                                                                            [200, 200, 403, 403, 403, 403, 404, 401, 401, 403]),
    row("POST", "/api/v1/work-orders/{wo}/flags/{flag}/resolve", None,      [404, 404, 403, 403, 403, 403, 404, 401, 401, 403]),
    row("POST", "/api/v1/me/location", Some(r#"{"lat":31.2,"lon":121.4,"at_ms":1900000000000}"#),
                                                                            [403, 403, 403, 204, 204, 403, 403, 401, 401, 204]),
    row("GET", "/api/v1/work-orders/{wo}/suggestions", None,                [200, 200, 403, 403, 403, 403, 404, 401, 401, 403]),
    row("POST", "/api/v1/work-orders/{wo}/auto-assign", None,               [409, 409, 403, 403, 403, 403, 404, 401, 401, 403]),
    row("GET", "/api/v1/territories", None,                                 [200, 200, 403, 403, 403, 403, 200, 401, 401, 403]),
    row("POST", "/api/v1/territories", Some(NEW_TERRITORY),                 [201, 201, 403, 403, 403, 403, 201, 401, 401, 403]),
    row("DELETE", "/api/v1/territories/{id}", None,                         [404, 404, 403, 403, 403, 403, 404, 401, 401, 403]),
    row("PUT", "/api/v1/engineers/{eng}/territories", Some(r#"{"territory_ids":[]}"#),
                                                                            [204, 204, 403, 403, 403, 403, 404, 401, 401, 403]),
    row("GET", "/api/v1/work-orders/{wo}/document", None,                   [200, 200, 403, 200, 404, 200, 404, 401, 401, 200]),
    // Blobs: whoever adds photos uploads (per organisation); reading goes through an order that
    // references the blob, and the fixture's order references none.
    row("POST", "/api/v1/blobs/{hash}/upload", Some(r#"{"size":10,"content_type":"image/jpeg"}"#),
                                                                            [200, 200, 403, 200, 200, 403, 200, 401, 401, 200]),
    row("PATCH", "/api/v1/blobs/{hash}/upload?offset=0", None,              [200, 200, 403, 200, 200, 403, 200, 401, 401, 200]),
    row("GET", "/api/v1/work-orders/{wo}/blobs/{hash}", None,               [404, 404, 403, 404, 404, 404, 404, 401, 401, 404]),
    row("GET", "/api/v1/work-orders/{wo}/blobs/{hash}/thumbnail", None,     [404, 404, 403, 404, 404, 404, 404, 401, 401, 404]),
    // Only a registered phone syncs; a session token is not enough. A JSON body is no sync
    // message: the device gets as far as the protocol's 400.
    row("POST", "/api/v1/sync", Some(r#"{"not":"a sync message"}"#),      [401, 401, 401, 401, 401, 401, 401, 401, 401, 400]),
    row("GET", "/api/v1/sync/changes?cursor=0&wait_ms=0", None,             [401, 401, 401, 401, 401, 401, 401, 401, 401, 200]),
    row("DELETE", "/api/v1/devices/{dev}", None,                            [204, 204, 403, 204, 404, 403, 404, 401, 401, 204]),
    row("POST", "/api/v1/auth/logout", None,                                [204, 204, 204, 204, 204, 204, 204, 401, 401, 401]),
];

const LOGIN: &str =
    r#"{"email":"admin@example.test","password":"correct horse battery","organisation":"Org A"}"#;
const NEW_ORDER: &str = r#"{"customer_id":"C-1","site":{"address":"2 Dock Rd","lat":31.2,"lon":121.4},"problem":"Leak"}"#;
const ASSIGN: &str = r#"{"engineer_id":"{eng}"}"#;
const SCHEDULE: &str = r#"{"start_ms":1900000000000,"end_ms":1900003600000}"#;
const NEW_TERRITORY: &str = r#"{"name":"Harbour","mode":"prefer","area":{"type":"Polygon","coordinates":[[[121.0,31.0],[122.0,31.0],[122.0,32.0],[121.0,31.0]]]}}"#;
/// SHA-256 of b"0123456789" (the 10 bytes the blob rows announce).
const BLOB_HASH: &str = "84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882";
const INV_RECEIPT: &str = r#"{"location":"WH-A","supplier":"S","lines":[{"sku":"ACC-1","qty":10},{"sku":"ACC-2","qty":1,"serials":["S-1"]}]}"#;
const NEW_ENGINEER: &str = r#"{"email":"new.engineer@example.test","name":"New","password":"long enough pw","skills":["electrical"]}"#;

fn token(f: &Fixture, who: Who) -> Option<&str> {
    Some(match who {
        Who::Admin => &f.admin.token,
        Who::Dispatcher => &f.dispatcher.token,
        Who::Warehouse => &f.warehouse.token,
        Who::Engineer => &f.engineer.token,
        Who::OtherEngineer => &f.other_engineer.token,
        Who::Customer => &f.customer.token,
        Who::OtherOrg => &f.other_org_dispatcher.token,
        Who::Revoked => &f.revoked_device_token,
        Who::Anonymous => return None,
        Who::Device => &f.device_token,
    })
}

fn fill(s: &str, f: &Fixture) -> String {
    s.replace("{wo}", &f.work_order)
        .replace("{eng}", &f.engineer.id.to_string())
        .replace("{dev}", &f.device_id)
        .replace("{flag}", "no-such-flag")
        .replace("{sku}", "ACC-1")
        .replace("{serial}", "S-1")
        .replace("{loc}", "WH-A")
        .replace("{van}", &van_code(f))
        .replace("{job}", "no-such-job")
        .replace("{res}", "no-such-reservation")
        .replace("{req}", "no-such-request")
        .replace("{disc}", "no-such-discrepancy")
        .replace("{hash}", BLOB_HASH)
        .replace("{id}", "no-such-territory")
}

/// The code of the engineer's van (created by the first issue to them).
fn van_code(f: &Fixture) -> String {
    format!("VAN-{}", &f.engineer.id.0.simple().to_string()[..8]).to_uppercase()
}

async fn every_route_answers_every_caller_as_the_table_says(db: TestDb) {
    assert!(LOGIN.contains(PASSWORD));
    let app = TestApp::new(db).await;
    let mut failures = Vec::new();
    for (column, who) in WHO.iter().enumerate() {
        // A fresh fixture per caller (same database, new organisations): one caller's
        // changes never decide another's answer.
        let f = Fixture::new(&app).await;
        for r in TABLE {
            let path = fill(r.path, &f);
            let body: Option<Value> = r
                .body
                .map(|b| serde_json::from_str(&fill(b, &f)).expect("table body is JSON"));
            let method: Method = r.method.parse().unwrap();
            let resp = app.call(method, &path, token(&f, *who), body).await;
            let want = StatusCode::from_u16(r.expect[column]).unwrap();
            if resp.status != want {
                failures.push(format!(
                    "{} {} as {who:?}: got {}, want {want} ({})",
                    r.method, r.path, resp.status, resp.body
                ));
            }
            // Every error answer has the JSON error shape.
            if !resp.status.is_success() {
                assert!(
                    !resp.code().is_empty(),
                    "{} {}: {:?}",
                    r.method,
                    r.path,
                    resp.body
                );
            }
            if matches!(*who, Who::Revoked) && want == StatusCode::UNAUTHORIZED {
                assert_eq!(resp.code(), "device_revoked", "{} {}", r.method, r.path);
            }
        }
        rename_orgs_apart(&app, &f).await;
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Each fixture creates "Org A" and "Org B"; organisation names are unique, so a finished
/// fixture's organisations are renamed before the next one is made.
async fn rename_orgs_apart(app: &TestApp, f: &Fixture) {
    for org in [f.org, f.other_org] {
        sqlx::query("UPDATE organisations SET name = id WHERE id = $1")
            .bind(org.to_string())
            .execute(app.state.db.pool())
            .await
            .unwrap();
    }
}

conformance!(every_route_answers_every_caller_as_the_table_says);

#[test]
fn table_covers_every_route_of_the_openapi_document() {
    let doc = lastmile_server::openapi();
    let mut documented = BTreeSet::new();
    for (path, item) in &doc.paths.paths {
        let methods = [
            ("GET", item.get.is_some()),
            ("POST", item.post.is_some()),
            ("PUT", item.put.is_some()),
            ("PATCH", item.patch.is_some()),
            ("DELETE", item.delete.is_some()),
        ];
        for (m, present) in methods {
            if present {
                documented.insert(format!("{m} {path}"));
            }
        }
    }
    let tested: BTreeSet<String> = TABLE
        .iter()
        .map(|r| {
            let path = r
                .path
                .split('?')
                .next()
                .unwrap_or_default()
                .replace("{wo}", "{id}")
                .replace("{eng}", "{id}")
                .replace("{dev}", "{id}")
                .replace("{loc}", "{id}")
                .replace("{job}", "{id}")
                .replace("{res}", "{id}")
                .replace("{req}", "{id}")
                .replace("{disc}", "{id}");
            format!("{} {path}", r.method)
        })
        .collect();
    assert_eq!(documented, tested, "the access table and the API disagree");
}

#[test]
fn only_the_listed_routes_are_public() {
    let public: BTreeSet<String> = TABLE
        .iter()
        .filter(|r| r.expect[8] != 401)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let expected: BTreeSet<String> = [
        "GET /healthz",
        "GET /readyz",
        "GET /openapi.json",
        "GET /docs",
        "POST /api/v1/auth/login",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(public, expected);
}
