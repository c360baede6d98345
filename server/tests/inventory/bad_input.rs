//! Bad input of every kind: a clear JSON error with a stable code, and every stock table
//! exactly as it was (invariant 6).

use crate::common::TestDb;
use crate::support::Inv;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};

conformance!(
    bad_stock_operations_are_refused_with_a_code_and_change_nothing,
    a_broken_catalog_csv_changes_nothing,
);

async fn bad_stock_operations_are_refused_with_a_code_and_change_nothing(db: TestDb) {
    let inv = Inv::new(db).await;
    let engineer = inv.f.engineer.id.to_string();
    inv.part("CAP-35UF", "pcs", false).await;
    inv.part("CU-3/8IN", "m", false).await;
    inv.part("COMP-ZR48", "pcs", true).await;
    inv.receive("CAP-35UF", 5, &[]).await;
    inv.receive("COMP-ZR48", 2, &["C-1", "C-2"]).await;
    inv.issue_to(inv.f.engineer.id, "COMP-ZR48", 1, &["C-1"])
        .await;
    let van = inv.van(inv.f.engineer.id).await;
    let receipt = |lines: Value| json!({"location": "WH-1", "supplier": "Danfoss", "lines": lines});
    let cases: Vec<(&str, &str, Value, u16, &str)> = vec![
        (
            "unknown SKU",
            "/api/v1/inventory/receipts",
            receipt(json!([{"sku": "NOPE-1", "qty": 1}])),
            422,
            "unknown_sku",
        ),
        (
            "zero quantity",
            "/api/v1/inventory/receipts",
            receipt(json!([{"sku": "CAP-35UF", "qty": 0}])),
            422,
            "invalid_quantity",
        ),
        (
            "negative quantity",
            "/api/v1/inventory/issues",
            json!({"engineer_id": engineer, "lines": [{"sku": "CAP-35UF", "qty": -2}]}),
            422,
            "invalid_quantity",
        ),
        (
            "wrong unit",
            "/api/v1/inventory/receipts",
            receipt(json!([{"sku": "CU-3/8IN", "qty": 1000, "unit": "pcs"}])),
            422,
            "wrong_unit",
        ),
        (
            "serial not in that van",
            "/api/v1/inventory/returns",
            json!({"from": van, "condition": "defective",
                   "lines": [{"sku": "COMP-ZR48", "qty": 1, "serials": ["C-2"]}]}),
            422,
            "serial_not_in_location",
        ),
        (
            "serial not in that van (good return)",
            "/api/v1/inventory/returns",
            json!({"from": van, "condition": "good",
                   "lines": [{"sku": "COMP-ZR48", "qty": 1, "serials": ["C-9"]}]}),
            422,
            "serial_not_in_location",
        ),
        (
            "serial-tracked part without serials",
            "/api/v1/inventory/receipts",
            receipt(json!([{"sku": "COMP-ZR48", "qty": 1}])),
            422,
            "invalid_serials",
        ),
        (
            "the same serial twice",
            "/api/v1/inventory/receipts",
            receipt(json!([{"sku": "COMP-ZR48", "qty": 2, "serials": ["C-7", "C-7"]}])),
            422,
            "invalid_serials",
        ),
        (
            "a serial already in stock",
            "/api/v1/inventory/receipts",
            receipt(json!([{"sku": "COMP-ZR48", "qty": 1, "serials": ["C-2"]}])),
            409,
            "serial_in_stock",
        ),
        (
            "more than the warehouse holds",
            "/api/v1/inventory/issues",
            json!({"engineer_id": engineer, "lines": [{"sku": "CAP-35UF", "qty": 6}]}),
            409,
            "insufficient_stock",
        ),
        (
            "one good line and one bad line",
            "/api/v1/inventory/issues",
            json!({"engineer_id": engineer, "lines": [{"sku": "CAP-35UF", "qty": 1},
                                                       {"sku": "NOPE-2", "qty": 1}]}),
            422,
            "unknown_sku",
        ),
        (
            "a second line short of stock",
            "/api/v1/inventory/issues",
            json!({"engineer_id": engineer, "lines": [{"sku": "CAP-35UF", "qty": 3},
                                                       {"sku": "CAP-35UF", "qty": 3}]}),
            409,
            "insufficient_stock",
        ),
        (
            "an issue from a van",
            "/api/v1/inventory/issues",
            json!({"from": van, "engineer_id": engineer, "lines": [{"sku": "CAP-35UF", "qty": 1}]}),
            422,
            "invalid_location",
        ),
        (
            "an unknown location",
            "/api/v1/inventory/transfers",
            json!({"from": "WH-1", "to": "WH-9", "lines": [{"sku": "CAP-35UF", "qty": 1}]}),
            422,
            "unknown_location",
        ),
        (
            "no lines",
            "/api/v1/inventory/receipts",
            receipt(json!([])),
            422,
            "invalid_input",
        ),
        (
            "an adjustment without a reason",
            "/api/v1/inventory/adjustments",
            json!({"location": "WH-1", "reason": " ", "lines": [{"sku": "CAP-35UF", "delta": 1}]}),
            422,
            "invalid_input",
        ),
        (
            "an adjustment of zero",
            "/api/v1/inventory/adjustments",
            json!({"location": "WH-1", "reason": "count", "lines": [{"sku": "CAP-35UF", "delta": 0}]}),
            422,
            "invalid_quantity",
        ),
        (
            "a negative count",
            "/api/v1/inventory/adjustments",
            json!({"location": "WH-1", "reason": "count", "lines": [{"sku": "CAP-35UF", "counted": -1}]}),
            422,
            "invalid_quantity",
        ),
        (
            "a reservation of nothing",
            "/api/v1/inventory/reservations",
            json!({"work_order_id": inv.f.work_order, "location": "WH-1", "sku": "CAP-35UF", "qty": 0}),
            422,
            "invalid_quantity",
        ),
        (
            "a reservation of more than there is",
            "/api/v1/inventory/reservations",
            json!({"work_order_id": inv.f.work_order, "location": "WH-1", "sku": "CAP-35UF", "qty": 9}),
            409,
            "insufficient_stock",
        ),
        (
            "a part with an unknown unit",
            "/api/v1/inventory/parts",
            json!({"sku": "X-1", "name": "X", "unit": "furlong"}),
            422,
            "invalid_input",
        ),
        (
            "a part that exists",
            "/api/v1/inventory/parts",
            json!({"sku": "CAP-35UF", "name": "Again", "unit": "pcs"}),
            409,
            "conflict",
        ),
        (
            "a missing field",
            "/api/v1/inventory/receipts",
            json!({"location": "WH-1", "lines": []}),
            400,
            "invalid_json",
        ),
    ];
    for (what, path, body, status, code) in cases {
        let before = inv.snapshot().await;
        let r = inv.call("POST", path, Some(body)).await;
        assert_eq!(r.status.as_u16(), status, "{what}: {}", r.body);
        assert_eq!(r.code(), code, "{what}: {}", r.body);
        assert!(
            !r.body["message"].as_str().unwrap_or_default().is_empty(),
            "{what}: a message for people"
        );
        assert_eq!(inv.snapshot().await, before, "{what} changed something");
    }
    // Not JSON at all.
    let before = inv.snapshot().await;
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/inventory/issues")
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", inv.f.warehouse.token),
        )
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let r = inv.app.send(req).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "invalid_json");
    assert_eq!(inv.snapshot().await, before);
    inv.assert_ledger_clean().await;
}

async fn a_broken_catalog_csv_changes_nothing(db: TestDb) {
    let inv = Inv::new(db).await;
    inv.part("CAP-35UF", "pcs", false).await;
    let before = inv.snapshot().await;
    // A header the importer cannot use: refused at once, no job.
    let r = import(&inv, "all_or_nothing", "sku,name,colour\nA,B,red\n").await;
    assert_eq!(r.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.1["code"], "csv_invalid");
    assert!(r.1["message"].as_str().unwrap().contains("colour"));
    // Broken rows, all or nothing: the job fails listing each bad row; nothing is imported.
    let csv = "sku,name,unit,unit_cost\n\
               NEW-1,Good part,pcs,1.00\n\
               NEW-2,Bad cost,pcs,abc\n\
               ,No SKU,pcs,1\n\
               CAP-35UF,Renamed,pcs,2\n\
               NEW-3,Bad unit,parsec,1\n";
    let (status, job) = import(&inv, "all_or_nothing", csv).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let job = crate::api::wait_for(&inv, &job).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["imported"], 0);
    assert_eq!(job["error_count"], 3);
    let lines: Vec<i64> = job["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4, 6]);
    assert!(
        job["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("unit_cost")
    );
    assert_eq!(
        inv.snapshot().await,
        before,
        "a failed import changed the catalog"
    );
}

/// POST a CSV to the import endpoint as warehouse staff.
pub async fn import(inv: &Inv, mode: &str, csv: &str) -> (StatusCode, Value) {
    let req = Request::builder()
        .method("POST")
        .uri(format!("/api/v1/inventory/catalog/imports?mode={mode}"))
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", inv.f.warehouse.token),
        )
        .header(header::CONTENT_TYPE, "text/csv")
        .body(Body::from(csv.to_owned()))
        .unwrap();
    let r = inv.app.send(req).await;
    (r.status, r.body)
}
