//! Consumption synced from phones through the real sync endpoint: each line posted exactly
//! once whatever the replays, never refused (discrepancies instead), voids reversed once,
//! serials traced, parts requests decided into the document with the issue.

use crate::common::{self, TestDb};
use crate::support::{Inv, Phone, line};
use axum::http::StatusCode;
use lastmile_server::{docstore, inventory};
use serde_json::json;
use sync_core::workorder::NewConsumption;

conformance!(
    synced_consumption_is_posted_once_per_line_whatever_the_replays,
    over_consumption_is_posted_and_opens_one_discrepancy,
    a_voided_line_is_reversed_once_even_when_two_devices_void_it,
    an_unknown_part_is_held_and_posted_when_its_discrepancy_is_resolved,
    a_serial_has_its_whole_history_from_supplier_back_to_supplier,
    a_serial_that_was_not_in_the_van_is_posted_with_a_discrepancy,
    parts_requests_are_decided_into_the_document_together_with_the_issue,
);

async fn consumed(inv: &Inv) -> i64 {
    inv.count("SELECT COUNT(*) FROM stock_movements WHERE org_id = $1 AND kind = 'consume'")
        .await
}

async fn discrepancies(inv: &Inv, kind: &str) -> serde_json::Value {
    inv.ok(
        "GET",
        &format!("/api/v1/inventory/discrepancies?kind={kind}&status=all"),
        json!(null),
    )
    .await
}

async fn synced_consumption_is_posted_once_per_line_whatever_the_replays(db: TestDb) {
    let inv = Inv::new(db).await;
    let engineer = inv.f.engineer.id;
    inv.part("CAP-35UF", "pcs", false).await;
    inv.part("CU-3/8IN", "m", false).await;
    inv.receive("CAP-35UF", 10, &[]).await;
    inv.receive("CU-3/8IN", 30_000, &[]).await;
    inv.issue_to(engineer, "CAP-35UF", 5, &[]).await;
    inv.issue_to(engineer, "CU-3/8IN", 10_000, &[]).await;
    let van = inv.van(engineer).await;

    let phone = Phone::new(engineer, &inv.f.device_token);
    let mut doc = phone.load(&inv.app, inv.org(), inv.order).await;
    let v = doc.start_visit(&phone.ctx()).unwrap();
    doc.consume_part(&phone.ctx(), &v, &line("CAP-35UF", 2))
        .unwrap();
    doc.consume_part(&phone.ctx(), &v, &line("CU-3/8IN", 2_500))
        .unwrap();
    let bytes = phone.request(&mut doc);
    // The same request three times, two of them at once: one posting per line.
    phone.post(&inv.app, &bytes).await;
    tokio::join!(phone.post(&inv.app, &bytes), phone.post(&inv.app, &bytes));
    assert_eq!(consumed(&inv).await, 2);
    assert_eq!(inv.balance(&van, "CAP-35UF").await, (3, 0, 0));
    assert_eq!(inv.balance(&van, "CU-3/8IN").await, (7_500, 0, 0));
    // A later sync with one more line posts only that line.
    doc.consume_part(&phone.ctx(), &v, &line("CAP-35UF", 1))
        .unwrap();
    phone.post(&inv.app, &phone.request(&mut doc)).await;
    assert_eq!(consumed(&inv).await, 3);
    assert_eq!(inv.balance(&van, "CAP-35UF").await, (2, 0, 0));
    // Posting the stored document again, as any later merge would: nothing new.
    let mut tx = inv.app.state.db.begin().await.unwrap();
    let seq = docstore::begin_write(&mut tx).await.unwrap();
    let stored = docstore::load(&mut tx, inv.app.state.docs.actor(), inv.org(), inv.order)
        .await
        .unwrap()
        .unwrap();
    let events = inventory::post_consumption(&mut tx, inv.org(), &stored, seq)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(events.is_empty());
    assert_eq!(consumed(&inv).await, 3);
    assert_eq!(
        inv.count("SELECT COUNT(*) FROM posted_lines WHERE org_id = $1 AND status = 'posted'")
            .await,
        3
    );
    // Each movement names its line, order, engineer, customer and asset; the time is the
    // phone's.
    let m = inv
        .ok(
            "GET",
            "/api/v1/inventory/movements?kind=consume&sku=CU-3/8IN",
            json!(null),
        )
        .await;
    let row = &m["items"][0];
    assert_eq!(row["work_order_number"], "WO-000001");
    assert_eq!(row["engineer_id"], engineer.to_string());
    assert_eq!(row["customer_id"], "C-1");
    assert_eq!(row["asset_id"], "SN-1");
    assert_eq!(row["actor_role"], "system");
    assert!(row["at_ms"].as_i64().unwrap() < 1_800_000_000_000);
    assert!(row["line_id"].is_string());
    assert_eq!(discrepancies(&inv, "negative_stock").await["total"], 0);
    inv.assert_ledger_clean().await;
}

async fn over_consumption_is_posted_and_opens_one_discrepancy(db: TestDb) {
    let inv = Inv::new(db).await;
    let engineer = inv.f.engineer.id;
    inv.part("BELT-A45", "pcs", false).await;
    inv.receive("BELT-A45", 5, &[]).await;
    inv.issue_to(engineer, "BELT-A45", 1, &[]).await;
    let van = inv.van(engineer).await;
    let phone = Phone::new(engineer, &inv.f.device_token);
    let v = phone
        .edit_and_sync(&inv, inv.order, |d, p| {
            let v = d.start_visit(&p.ctx()).unwrap();
            d.consume_part(&p.ctx(), &v, &line("BELT-A45", 2)).unwrap();
            d.consume_part(&p.ctx(), &v, &line("BELT-A45", 2)).unwrap();
            v
        })
        .await;
    // The part is physically gone: posted, the van goes negative, one discrepancy.
    assert_eq!(inv.balance(&van, "BELT-A45").await, (-3, 0, 0));
    phone
        .edit_and_sync(&inv, inv.order, |d, p| {
            d.consume_part(&p.ctx(), &v, &line("BELT-A45", 1)).unwrap();
        })
        .await;
    assert_eq!(inv.balance(&van, "BELT-A45").await, (-4, 0, 0));
    let open = discrepancies(&inv, "negative_stock").await;
    assert_eq!(open["total"], 1, "{open}");
    let d = &open["items"][0];
    assert_eq!(d["work_order_number"], "WO-000001");
    assert_eq!(d["engineer_id"], engineer.to_string());
    assert_eq!(d["sku"], "BELT-A45");
    assert_eq!(d["location_id"], van.as_str());
    let events = inv
        .ok(
            "GET",
            "/api/v1/inventory/events?kind=discrepancy_opened",
            json!(null),
        )
        .await;
    assert_eq!(events.as_array().unwrap().len(), 1);
    assert_eq!(consumed(&inv).await, 3);
    // The warehouse counts the van (empty), corrects it and resolves the discrepancy.
    inv.ok(
        "POST",
        "/api/v1/inventory/adjustments",
        json!({"location": van, "reason": "van count after discrepancy",
               "lines": [{"sku": "BELT-A45", "counted": 0}]}),
    )
    .await;
    let id = d["id"].as_str().unwrap();
    let resolved = inv
        .ok(
            "POST",
            &format!("/api/v1/inventory/discrepancies/{id}/resolve"),
            json!({"note": "van shared with Li Qiang on Monday; counted and corrected"}),
        )
        .await;
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["resolved_by"], inv.f.warehouse.id.to_string());
    let again = inv
        .call(
            "POST",
            &format!("/api/v1/inventory/discrepancies/{id}/resolve"),
            Some(json!({"note": "again"})),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let open = inv
        .ok("GET", "/api/v1/inventory/discrepancies", json!(null))
        .await;
    assert_eq!(open["total"], 0);
    inv.assert_ledger_clean().await;
}

async fn a_voided_line_is_reversed_once_even_when_two_devices_void_it(db: TestDb) {
    let inv = Inv::new(db).await;
    let engineer = inv.f.engineer.id;
    inv.part("DRIER-DML083", "pcs", false).await;
    inv.receive("DRIER-DML083", 5, &[]).await;
    inv.issue_to(engineer, "DRIER-DML083", 4, &[]).await;
    let van = inv.van(engineer).await;
    let a = Phone::new(engineer, &inv.f.device_token);
    let (_, token_b) = common::register(&inv.app, &inv.f.engineer, "phone-b").await;
    let b = Phone::new(engineer, &token_b);
    let (v, l) = a
        .edit_and_sync(&inv, inv.order, |d, p| {
            let v = d.start_visit(&p.ctx()).unwrap();
            let l = d
                .consume_part(&p.ctx(), &v, &line("DRIER-DML083", 3))
                .unwrap();
            (v, l)
        })
        .await;
    assert_eq!(inv.balance(&van, "DRIER-DML083").await, (1, 0, 0));
    // Both phones void the line from the same state, offline; then both sync.
    let mut doc_a = a.load(&inv.app, inv.org(), inv.order).await;
    let mut doc_b = b.load(&inv.app, inv.org(), inv.order).await;
    doc_a.void_consumption(&a.ctx(), &v, &l).unwrap();
    doc_b.void_consumption(&b.ctx(), &v, &l).unwrap();
    a.post(&inv.app, &a.request(&mut doc_a)).await;
    b.post(&inv.app, &b.request(&mut doc_b)).await;
    a.post(&inv.app, &a.request(&mut doc_a)).await;
    assert_eq!(inv.balance(&van, "DRIER-DML083").await, (4, 0, 0));
    assert_eq!(
        inv.count(
            "SELECT COUNT(*) FROM stock_movements WHERE org_id = $1 AND kind = 'consume_reversal'"
        )
        .await,
        1
    );
    assert_eq!(
        inv.count("SELECT COUNT(*) FROM posted_lines WHERE org_id = $1 AND status = 'skipped'")
            .await,
        1
    );
    let report = inv
        .ok("GET", "/api/v1/inventory/reports/consumption", json!(null))
        .await;
    assert_eq!(report[0]["qty"], 0);
    inv.assert_ledger_clean().await;
}

async fn an_unknown_part_is_held_and_posted_when_its_discrepancy_is_resolved(db: TestDb) {
    let inv = Inv::new(db).await;
    let engineer = inv.f.engineer.id;
    let phone = Phone::new(engineer, &inv.f.device_token);
    phone
        .edit_and_sync(&inv, inv.order, |d, p| {
            let v = d.start_visit(&p.ctx()).unwrap();
            d.consume_part(&p.ctx(), &v, &line("GASKET-XYZ", 2))
                .unwrap();
        })
        .await;
    // Recorded, not posted, and the warehouse is told.
    assert_eq!(consumed(&inv).await, 0);
    assert_eq!(
        inv.count("SELECT COUNT(*) FROM posted_lines WHERE org_id = $1 AND status = 'held'")
            .await,
        1
    );
    let held = discrepancies(&inv, "unknown_sku").await;
    assert_eq!(held["total"], 1);
    let id = held["items"][0]["id"].as_str().unwrap().to_owned();
    assert!(
        held["items"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("GASKET-XYZ x2")
    );
    // Resolving as a part that does not exist either: refused, nothing changed.
    let before = inv.snapshot().await;
    let r = inv
        .call(
            "POST",
            &format!("/api/v1/inventory/discrepancies/{id}/resolve"),
            Some(json!({"note": "typo", "post_as_sku": "STILL-NOPE"})),
        )
        .await;
    assert_eq!(r.code(), "unknown_sku");
    assert_eq!(inv.snapshot().await, before);
    // The engineer meant an existing gasket kit: post the line as that part.
    inv.part("GASKET-PUMP-CR10", "set", false).await;
    inv.receive("GASKET-PUMP-CR10", 4, &[]).await;
    inv.issue_to(engineer, "GASKET-PUMP-CR10", 2, &[]).await;
    let resolved = inv
        .ok(
            "POST",
            &format!("/api/v1/inventory/discrepancies/{id}/resolve"),
            json!({"note": "engineer typed the old code", "post_as_sku": "GASKET-PUMP-CR10"}),
        )
        .await;
    assert!(
        resolved["resolution"]
            .as_str()
            .unwrap()
            .contains("1 line(s) posted")
    );
    assert_eq!(consumed(&inv).await, 1);
    let van = inv.van(engineer).await;
    assert_eq!(inv.balance(&van, "GASKET-PUMP-CR10").await, (0, 0, 0));
    // A replay of the document posts nothing more.
    phone.edit_and_sync(&inv, inv.order, |_, _| ()).await;
    assert_eq!(consumed(&inv).await, 1);
    inv.assert_ledger_clean().await;
}

async fn a_serial_has_its_whole_history_from_supplier_back_to_supplier(db: TestDb) {
    let inv = Inv::new(db).await;
    let engineer = inv.f.engineer.id;
    inv.part("COMP-ZR48", "pcs", true).await;
    inv.receive("COMP-ZR48", 2, &["ZR-001", "ZR-002"]).await;
    inv.issue_to(engineer, "COMP-ZR48", 1, &["ZR-001"]).await;
    let van = inv.van(engineer).await;
    let phone = Phone::new(engineer, &inv.f.device_token);
    phone
        .edit_and_sync(&inv, inv.order, |d, p| {
            let v = d.start_visit(&p.ctx()).unwrap();
            d.consume_part(
                &p.ctx(),
                &v,
                &NewConsumption {
                    sku: "COMP-ZR48".into(),
                    qty: 1,
                    serial: Some("ZR-001".into()),
                    replaced_serial: Some("OLD-77".into()),
                },
            )
            .unwrap();
        })
        .await;
    // The new one is installed; the faulty one is in the van, defective.
    assert_eq!(inv.balance(&van, "COMP-ZR48").await, (0, 1, 0));
    let stock = inv
        .ok(
            "GET",
            &format!("/api/v1/inventory/stock?location={van}"),
            json!(null),
        )
        .await;
    assert_eq!(stock["items"][0]["defective_serials"], json!(["OLD-77"]));
    // Back to the warehouse's quarantine, then to the supplier under warranty.
    inv.ok(
        "POST",
        "/api/v1/inventory/returns",
        json!({"engineer_id": engineer.to_string(), "condition": "defective",
               "work_order_id": inv.f.work_order,
               "lines": [{"sku": "COMP-ZR48", "qty": 1, "serials": ["OLD-77"]}]}),
    )
    .await;
    inv.ok(
        "POST",
        "/api/v1/inventory/supplier-returns",
        json!({"supplier": "Emerson", "reference": "RMA-2026-118",
               "lines": [{"sku": "COMP-ZR48", "qty": 1, "serials": ["OLD-77"]}]}),
    )
    .await;

    let new = inv
        .ok("GET", "/api/v1/inventory/serials/ZR-001", json!(null))
        .await;
    let kinds: Vec<&str> = new["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["receive", "issue", "consume"]);
    assert_eq!(new["history"][0]["supplier"], "Danfoss");
    assert_eq!(new["history"][1]["to_location_id"], van.as_str());
    let installed = &new["history"][2];
    assert_eq!(installed["work_order_number"], "WO-000001");
    assert_eq!(installed["customer_id"], "C-1");
    assert_eq!(installed["asset_id"], "SN-1");
    assert_eq!(new["now"][0]["state"], "installed");
    assert_eq!(new["now"][0]["asset_id"], "SN-1");

    let old = inv
        .ok("GET", "/api/v1/inventory/serials/OLD-77", json!(null))
        .await;
    let kinds: Vec<&str> = old["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["removal", "return_defective", "return_supplier"]);
    assert_eq!(old["history"][0]["work_order_number"], "WO-000001");
    assert_eq!(old["history"][1]["to_location_code"], "QUARANTINE");
    assert_eq!(old["history"][2]["reference"], "RMA-2026-118");
    assert_eq!(old["now"][0]["state"], "returned_to_supplier");
    let missing = inv
        .call("GET", "/api/v1/inventory/serials/NEVER", None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(discrepancies(&inv, "serial_mismatch").await["total"], 0);
    inv.assert_ledger_clean().await;
}

async fn a_serial_that_was_not_in_the_van_is_posted_with_a_discrepancy(db: TestDb) {
    let inv = Inv::new(db).await;
    let engineer = inv.f.engineer.id;
    inv.part("MOTOR-FAN", "pcs", true).await;
    inv.receive("MOTOR-FAN", 2, &["FM-1", "FM-2"]).await;
    inv.issue_to(engineer, "MOTOR-FAN", 1, &["FM-1"]).await;
    let phone = Phone::new(engineer, &inv.f.device_token);
    phone
        .edit_and_sync(&inv, inv.order, |d, p| {
            let v = d.start_visit(&p.ctx()).unwrap();
            // FM-2 never left the warehouse; the second line has no serial at all.
            d.consume_part(
                &p.ctx(),
                &v,
                &NewConsumption {
                    sku: "MOTOR-FAN".into(),
                    qty: 1,
                    serial: Some("FM-2".into()),
                    replaced_serial: None,
                },
            )
            .unwrap();
            d.consume_part(&p.ctx(), &v, &line("MOTOR-FAN", 1)).unwrap();
        })
        .await;
    assert_eq!(consumed(&inv).await, 2);
    let mismatch = discrepancies(&inv, "serial_mismatch").await;
    assert_eq!(
        mismatch["total"], 1,
        "one per order, engineer and part: {mismatch}"
    );
    assert!(
        mismatch["items"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("FM-2")
    );
    let history = inv
        .ok("GET", "/api/v1/inventory/serials/FM-2", json!(null))
        .await;
    assert_eq!(history["now"][0]["state"], "installed");
    inv.assert_ledger_clean().await;
}

async fn parts_requests_are_decided_into_the_document_together_with_the_issue(db: TestDb) {
    let inv = Inv::new(db).await;
    let engineer = inv.f.engineer.id;
    inv.part("TXV-TE5", "pcs", false).await;
    inv.receive("TXV-TE5", 5, &[]).await;
    let phone = Phone::new(engineer, &inv.f.device_token);
    let (small, unknown, big) = phone
        .edit_and_sync(&inv, inv.order, |d, p| {
            (
                d.request_parts(&p.ctx(), "TXV-TE5", 3, "valve stuck")
                    .unwrap(),
                d.request_parts(&p.ctx(), "NOPE-1", 1, "").unwrap(),
                d.request_parts(&p.ctx(), "TXV-TE5", 10, "spares").unwrap(),
            )
        })
        .await;
    let pending = inv
        .ok("GET", "/api/v1/inventory/parts-requests", json!(null))
        .await;
    assert_eq!(pending["total"], 3);
    assert_eq!(pending["items"][0]["work_order_number"], "WO-000001");
    assert_eq!(pending["items"][0]["requested_by"], engineer.to_string());
    // Partly approved: 2 of 3, issued to the engineer's van in the same transaction.
    let decided = inv
        .ok(
            "POST",
            &format!("/api/v1/inventory/parts-requests/{small}/decide"),
            json!({"approved_qty": 2, "note": "2 now, 1 on back order"}),
        )
        .await;
    assert_eq!(decided["request"]["status"], "partly_approved");
    assert_eq!(decided["movement_ids"].as_array().unwrap().len(), 1);
    let van = inv.van(engineer).await;
    assert_eq!(inv.balance(&van, "TXV-TE5").await, (2, 0, 0));
    let again = inv
        .call(
            "POST",
            &format!("/api/v1/inventory/parts-requests/{small}/decide"),
            Some(json!({"approved_qty": 1})),
        )
        .await;
    assert_eq!(again.code(), "already_decided");
    // More than the warehouse holds: neither the decision nor the issue happens.
    let before = inv.snapshot().await;
    let doc_before = inv
        .app
        .get(
            &format!("/api/v1/work-orders/{}/document", inv.f.work_order),
            &inv.f.dispatcher.token,
        )
        .await
        .body;
    let short = inv
        .call(
            "POST",
            &format!("/api/v1/inventory/parts-requests/{big}/decide"),
            Some(json!({"approved_qty": 10})),
        )
        .await;
    assert_eq!(short.status, StatusCode::CONFLICT);
    assert_eq!(short.code(), "insufficient_stock");
    let too_many = inv
        .call(
            "POST",
            &format!("/api/v1/inventory/parts-requests/{big}/decide"),
            Some(json!({"approved_qty": 11})),
        )
        .await;
    assert_eq!(too_many.code(), "invalid_quantity");
    assert_eq!(inv.snapshot().await, before);
    let doc_after = inv
        .app
        .get(
            &format!("/api/v1/work-orders/{}/document", inv.f.work_order),
            &inv.f.dispatcher.token,
        )
        .await
        .body;
    assert_eq!(
        doc_after, doc_before,
        "the refused decision is not in the document"
    );
    // Rejected: no stock needed, even for a part the catalog lacks.
    let rejected = inv
        .ok(
            "POST",
            &format!("/api/v1/inventory/parts-requests/{unknown}/decide"),
            json!({"approved_qty": 0, "note": "not a part we stock"}),
        )
        .await;
    assert_eq!(rejected["request"]["status"], "rejected");
    assert!(rejected["movement_ids"].as_array().unwrap().is_empty());
    // The document carries both decisions; the phone gets them on its next sync.
    let doc = inv
        .app
        .get(
            &format!("/api/v1/work-orders/{}/document", inv.f.work_order),
            &inv.f.dispatcher.token,
        )
        .await
        .body;
    let requests = doc["parts_requests"].as_array().unwrap();
    let by_id = |id: &sync_core::LineId| {
        requests
            .iter()
            .find(|r| r["id"] == id.to_string())
            .unwrap()
            .clone()
    };
    assert_eq!(by_id(&small)["decision"]["approved_qty"], 2);
    assert_eq!(
        by_id(&small)["decision"]["by"],
        inv.f.warehouse.id.to_string()
    );
    assert_eq!(by_id(&unknown)["decision"]["approved_qty"], 0);
    assert!(by_id(&big)["decision"].is_null());
    let mut on_phone = phone.load(&inv.app, inv.org(), inv.order).await;
    let resp = phone.post(&inv.app, &phone.request(&mut on_phone)).await;
    assert_eq!(resp.acks.len(), 1);
    let still = inv
        .ok("GET", "/api/v1/inventory/parts-requests", json!(null))
        .await;
    assert_eq!(still["total"], 1);
    assert_eq!(still["items"][0]["id"], big.to_string());
    let issued = inv
        .ok(
            "GET",
            &format!("/api/v1/inventory/movements?kind=issue&location={van}"),
            json!(null),
        )
        .await;
    assert_eq!(issued["items"][0]["request_id"], small.to_string());
    assert_eq!(
        issued["items"][0]["work_order_id"],
        inv.f.work_order.as_str()
    );
    inv.assert_ledger_clean().await;
}
