//! The ledger: never oversold under concurrency, every operation keeps balances equal to the
//! ledger, reservations hold stock, low stock is raised once, movements are append-only.

use crate::common::TestDb;
use crate::support::Inv;
use axum::http::StatusCode;
use serde_json::json;
use std::sync::Arc;

conformance_mt!(
    concurrent_issues_of_the_last_ten_units_give_exactly_ten,
    concurrent_reservations_and_issues_never_oversell,
);

conformance!(
    receive_issue_transfer_return_and_adjust_keep_the_ledger_and_balances_equal,
    reserved_stock_is_held_for_its_order_and_released_when_it_ends,
    low_stock_is_raised_once_when_available_stock_crosses_the_reorder_point,
    stock_movements_are_append_only,
    a_part_in_stock_keeps_its_unit_and_cannot_be_withdrawn,
);

/// 100 concurrent issue requests, each for 1 of the last 10 units: exactly 10 succeed, the
/// other 90 are 409 `insufficient_stock`, and the warehouse ends at zero.
async fn concurrent_issues_of_the_last_ten_units_give_exactly_ten(db: TestDb) {
    let inv = Inv::new(db).await;
    inv.part("CAP-35UF", "pcs", false).await;
    inv.receive("CAP-35UF", 10, &[]).await;
    let engineer = inv.f.engineer.id.to_string();
    let app = Arc::new(inv);
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let app = app.clone();
        let engineer = engineer.clone();
        tasks.push(tokio::spawn(async move {
            let r = app
                .call(
                    "POST",
                    "/api/v1/inventory/issues",
                    Some(json!({"from": "WH-1", "engineer_id": engineer,
                                "lines": [{"sku": "CAP-35UF", "qty": 1}]})),
                )
                .await;
            (r.status, r.code().to_owned())
        }));
    }
    let mut ok = 0;
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            (StatusCode::CREATED, _) => ok += 1,
            (StatusCode::CONFLICT, code) if code == "insufficient_stock" => refused += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!((ok, refused), (10, 90));
    let inv = &*app;
    assert_eq!(inv.balance(&inv.wh, "CAP-35UF").await, (0, 0, 0));
    let van = inv.van(inv.f.engineer.id).await;
    assert_eq!(inv.balance(&van, "CAP-35UF").await, (10, 0, 0));
    assert_eq!(
        inv.count("SELECT COUNT(*) FROM stock_movements WHERE org_id = $1 AND kind = 'issue'")
            .await,
        10
    );
    inv.assert_ledger_clean().await;
}

/// Reservations and issues racing for 20 units: what succeeded never adds up to more than 20,
/// and the balances still equal the ledger.
async fn concurrent_reservations_and_issues_never_oversell(db: TestDb) {
    let inv = Inv::new(db).await;
    inv.part("BELT-A45", "pcs", false).await;
    inv.receive("BELT-A45", 20, &[]).await;
    let engineer = inv.f.engineer.id.to_string();
    let order = inv.f.work_order.clone();
    let app = Arc::new(inv);
    let mut tasks = Vec::new();
    for i in 0..60 {
        let app = app.clone();
        let (engineer, order) = (engineer.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            let (path, body) = if i % 2 == 0 {
                (
                    "/api/v1/inventory/reservations",
                    json!({"work_order_id": order, "location": "WH-1", "sku": "BELT-A45", "qty": 1}),
                )
            } else {
                (
                    "/api/v1/inventory/issues",
                    json!({"from": "WH-1", "engineer_id": engineer,
                           "lines": [{"sku": "BELT-A45", "qty": 1}]}),
                )
            };
            let r = app.call("POST", path, Some(body)).await;
            assert!(
                r.status == StatusCode::CREATED || r.code() == "insufficient_stock",
                "{} {}",
                r.status,
                r.body
            );
            r.status == StatusCode::CREATED
        }));
    }
    let mut granted = 0;
    for t in tasks {
        granted += i64::from(t.await.unwrap());
    }
    assert_eq!(granted, 20, "every unit went to exactly one request");
    let inv = &*app;
    let (qty, _, reserved) = inv.balance(&inv.wh, "BELT-A45").await;
    assert_eq!(qty - reserved, 0);
    inv.assert_ledger_clean().await;
}

async fn receive_issue_transfer_return_and_adjust_keep_the_ledger_and_balances_equal(db: TestDb) {
    let inv = Inv::new(db).await;
    let engineer = inv.f.engineer.id;
    inv.part("DRIER-DML083", "pcs", false).await;
    inv.part("CU-3/8IN", "m", false).await;
    inv.part("MOTOR-FAN", "pcs", true).await;
    inv.ok(
        "POST",
        "/api/v1/inventory/locations",
        json!({"code": "wh-2", "name": "Depot", "kind": "warehouse"}),
    )
    .await;
    // One receipt of three lines; copper in millimetres.
    let r = inv
        .ok(
            "POST",
            "/api/v1/inventory/receipts",
            json!({"location": "WH-1", "supplier": "Danfoss", "reference": "PO-7",
                   "lines": [{"sku": "DRIER-DML083", "qty": 12, "unit": "pcs"},
                             {"sku": "CU-3/8IN", "qty": 50_000, "unit": "m"},
                             {"sku": "MOTOR-FAN", "qty": 2, "serials": ["FM-1", "FM-2"]}]}),
        )
        .await;
    assert_eq!(r["movement_ids"].as_array().unwrap().len(), 4);
    inv.issue_to(engineer, "DRIER-DML083", 5, &[]).await;
    inv.issue_to(engineer, "MOTOR-FAN", 1, &["FM-1"]).await;
    inv.ok(
        "POST",
        "/api/v1/inventory/transfers",
        json!({"from": "WH-1", "to": "WH-2", "lines": [{"sku": "CU-3/8IN", "qty": 20_000}]}),
    )
    .await;
    let van = inv.van(engineer).await;
    // Two driers come back good, one defective (to the quarantine, created on first use).
    inv.ok(
        "POST",
        "/api/v1/inventory/returns",
        json!({"engineer_id": engineer.to_string(), "condition": "good", "to": "wh-1",
               "lines": [{"sku": "DRIER-DML083", "qty": 2}]}),
    )
    .await;
    let ret = inv
        .ok(
            "POST",
            "/api/v1/inventory/returns",
            json!({"from": van, "condition": "defective", "to": null,
                   "lines": [{"sku": "DRIER-DML083", "qty": 1}]}),
        )
        .await;
    let quarantine = ret["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["location_code"] == "QUARANTINE")
        .expect("quarantine balance")["location_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A count finds 8 driers in WH-1 (the records say 9): adjust by the count.
    let adj = inv
        .ok(
            "POST",
            "/api/v1/inventory/adjustments",
            json!({"location": "WH-1", "reason": "cycle count",
                   "lines": [{"sku": "DRIER-DML083", "counted": 8}]}),
        )
        .await;
    assert_eq!(adj["balances"][0]["qty"], 8);
    // The defective drier goes back to the supplier.
    inv.ok(
        "POST",
        "/api/v1/inventory/supplier-returns",
        json!({"supplier": "Danfoss", "reference": "RMA-3",
               "lines": [{"sku": "DRIER-DML083", "qty": 1}]}),
    )
    .await;

    assert_eq!(inv.balance(&inv.wh, "DRIER-DML083").await, (8, 0, 0));
    assert_eq!(inv.balance(&van, "DRIER-DML083").await, (2, 0, 0));
    assert_eq!(inv.balance(&quarantine, "DRIER-DML083").await, (0, 0, 0));
    assert_eq!(inv.balance(&inv.wh, "CU-3/8IN").await, (30_000, 0, 0));
    assert_eq!(inv.balance(&inv.wh, "MOTOR-FAN").await, (1, 0, 0));
    assert_eq!(inv.balance(&van, "MOTOR-FAN").await, (1, 0, 0));

    // Stock by location, searched; the van's serial shows.
    let stock = inv
        .ok(
            "GET",
            &format!("/api/v1/inventory/stock?location={van}"),
            json!(null),
        )
        .await;
    assert_eq!(stock["total"], 2);
    let motor = stock["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["sku"] == "MOTOR-FAN")
        .unwrap();
    assert_eq!(motor["serials"], json!(["FM-1"]));
    let found = inv
        .ok(
            "GET",
            "/api/v1/inventory/stock?q=drier&kind=warehouse",
            json!(null),
        )
        .await;
    assert_eq!(found["total"], 1);
    // Movements with filters.
    let m = inv
        .ok(
            "GET",
            "/api/v1/inventory/movements?kind=issue,return_good&sku=DRIER-DML083",
            json!(null),
        )
        .await;
    assert_eq!(m["total"], 2);
    let m = inv
        .ok(
            "GET",
            "/api/v1/inventory/movements?location=WH-2",
            json!(null),
        )
        .await;
    assert_eq!(m["total"], 1);
    assert_eq!(m["items"][0]["from_location_code"], "WH-1");
    let adjusted = inv
        .ok(
            "GET",
            "/api/v1/inventory/movements?kind=adjust",
            json!(null),
        )
        .await;
    assert_eq!(adjusted["items"][0]["reason"], "cycle count");
    assert_eq!(
        adjusted["items"][0]["actor_id"],
        inv.f.warehouse.id.to_string()
    );
    inv.assert_ledger_clean().await;
}

async fn reserved_stock_is_held_for_its_order_and_released_when_it_ends(db: TestDb) {
    let inv = Inv::new(db).await;
    let engineer = inv.f.engineer.id.to_string();
    inv.part("TXV-TE5", "pcs", false).await;
    inv.receive("TXV-TE5", 10, &[]).await;
    // The dispatcher reserves 8 for the order.
    let r = inv
        .app
        .post(
            "/api/v1/inventory/reservations",
            &inv.f.dispatcher.token,
            json!({"work_order_id": inv.f.work_order, "location": "WH-1", "sku": "TXV-TE5", "qty": 8}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let reservation = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(inv.balance(&inv.wh, "TXV-TE5").await, (10, 0, 8));
    // Not available to anyone else: 3 for no order is refused, 2 is fine.
    let refused = inv
        .call(
            "POST",
            "/api/v1/inventory/issues",
            Some(json!({"engineer_id": engineer, "lines": [{"sku": "TXV-TE5", "qty": 3}]})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.code(), "insufficient_stock");
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("2 available")
    );
    inv.ok(
        "POST",
        "/api/v1/inventory/issues",
        json!({"engineer_id": engineer, "lines": [{"sku": "TXV-TE5", "qty": 2}]}),
    )
    .await;
    // Issued for the order: its reservation is used.
    let issued = inv
        .ok(
            "POST",
            "/api/v1/inventory/issues",
            json!({"engineer_id": engineer, "work_order_id": inv.f.work_order,
                   "lines": [{"sku": "TXV-TE5", "qty": 5}]}),
        )
        .await;
    assert_eq!(issued["balances"][0]["reserved"], 3);
    let list = inv
        .ok(
            "GET",
            &format!(
                "/api/v1/inventory/reservations?work_order_id={}",
                inv.f.work_order
            ),
            json!(null),
        )
        .await;
    assert_eq!(list[0]["qty"], 3);
    assert_eq!(list[0]["issued"], 5);
    // The order is cancelled: the rest is released at the next look.
    let c = inv
        .app
        .post(
            &format!("/api/v1/work-orders/{}/status", inv.f.work_order),
            &inv.f.dispatcher.token,
            json!({"status": "cancelled"}),
        )
        .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.body);
    let stock = inv
        .ok(
            "GET",
            "/api/v1/inventory/stock?sku=TXV-TE5&location=WH-1",
            json!(null),
        )
        .await;
    assert_eq!(stock["items"][0]["reserved"], 0);
    let all = inv
        .ok(
            "GET",
            "/api/v1/inventory/reservations?status=all",
            json!(null),
        )
        .await;
    assert_eq!(all[0]["id"], reservation.as_str());
    assert_eq!(all[0]["status"], "released");
    assert_eq!(all[0]["close_reason"], "work order finished");
    // Reserving for a finished order is refused; an expiring reservation expires.
    let late = inv
        .call(
            "POST",
            "/api/v1/inventory/reservations",
            Some(json!({"work_order_id": inv.f.work_order, "location": "WH-1", "sku": "TXV-TE5", "qty": 1})),
        )
        .await;
    assert_eq!(
        late.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        late.body
    );
    let order = inv
        .app
        .post(
            "/api/v1/work-orders",
            &inv.f.dispatcher.token,
            json!({"customer_id": inv.f.customer_id, "problem": "Leak",
                   "site": {"address": "2 Dock Rd", "lat": 31.2, "lon": 121.4}}),
        )
        .await;
    assert_eq!(order.status, StatusCode::CREATED);
    let expiring = inv
        .ok(
            "POST",
            "/api/v1/inventory/reservations",
            json!({"work_order_id": order.body["id"], "location": "WH-1", "sku": "TXV-TE5",
                   "qty": 1, "expires_at_ms": lastmile_server::now_ms() + 300}),
        )
        .await;
    assert_eq!(inv.balance(&inv.wh, "TXV-TE5").await.2, 1);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let all = inv
        .ok(
            "GET",
            "/api/v1/inventory/reservations?status=expired",
            json!(null),
        )
        .await;
    assert_eq!(all[0]["id"], expiring["id"]);
    assert_eq!(inv.balance(&inv.wh, "TXV-TE5").await.2, 0);
    let closed = inv
        .ok(
            "GET",
            "/api/v1/inventory/events?kind=reservation_closed",
            json!(null),
        )
        .await;
    assert_eq!(closed.as_array().unwrap().len(), 2);
    inv.assert_ledger_clean().await;
}

async fn low_stock_is_raised_once_when_available_stock_crosses_the_reorder_point(db: TestDb) {
    let inv = Inv::new(db).await;
    let engineer = inv.f.engineer.id;
    inv.part("CONT-3P", "pcs", false).await;
    inv.receive("CONT-3P", 10, &[]).await;
    inv.ok(
        "PUT",
        "/api/v1/inventory/locations/WH-1/levels/CONT-3P",
        json!({"reorder_point": 5, "reorder_qty": 20}),
    )
    .await;
    let low = inv
        .ok("GET", "/api/v1/inventory/low-stock", json!(null))
        .await;
    assert_eq!(low, json!([]));
    inv.issue_to(engineer, "CONT-3P", 4, &[]).await; // 6 left: not low
    inv.issue_to(engineer, "CONT-3P", 2, &[]).await; // 4: crosses
    inv.issue_to(engineer, "CONT-3P", 1, &[]).await; // 3: still low, no second event
    let low = inv
        .ok("GET", "/api/v1/inventory/low-stock", json!(null))
        .await;
    assert_eq!(low.as_array().unwrap().len(), 1);
    assert_eq!(low[0]["available"], 3);
    assert_eq!(low[0]["suggested_qty"], 20);
    let events = inv
        .ok(
            "GET",
            "/api/v1/inventory/events?kind=low_stock",
            json!(null),
        )
        .await;
    assert_eq!(events.as_array().unwrap().len(), 1, "{events}");
    assert_eq!(events[0]["sku"], "CONT-3P");
    assert_eq!(events[0]["detail"]["available"], 4);
    // A receipt lifts it above the point; the next crossing raises a new event.
    inv.receive("CONT-3P", 10, &[]).await;
    inv.issue_to(engineer, "CONT-3P", 9, &[]).await;
    let events = inv
        .ok(
            "GET",
            "/api/v1/inventory/events?kind=low_stock",
            json!(null),
        )
        .await;
    assert_eq!(events.as_array().unwrap().len(), 2);
    let after = events[0]["id"].as_i64().unwrap();
    let rest = inv
        .ok(
            "GET",
            &format!("/api/v1/inventory/events?kind=low_stock&after={after}"),
            json!(null),
        )
        .await;
    assert_eq!(rest.as_array().unwrap().len(), 1);
}

async fn stock_movements_are_append_only(db: TestDb) {
    let inv = Inv::new(db).await;
    inv.part("BRG-6204", "pcs", false).await;
    inv.receive("BRG-6204", 3, &[]).await;
    let pool = inv.app.state.db.pool();
    let update = sqlx::query("UPDATE stock_movements SET qty = 1 WHERE org_id = $1")
        .bind(inv.org().to_string())
        .execute(pool)
        .await;
    assert!(
        update.unwrap_err().to_string().contains("append-only"),
        "an update of a movement must fail"
    );
    let delete = sqlx::query("DELETE FROM stock_movements WHERE org_id = $1")
        .bind(inv.org().to_string())
        .execute(pool)
        .await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    assert_eq!(inv.balance(&inv.wh, "BRG-6204").await, (3, 0, 0));
}

async fn a_part_in_stock_keeps_its_unit_and_cannot_be_withdrawn(db: TestDb) {
    let inv = Inv::new(db).await;
    inv.part("OIL-POE32", "l", false).await;
    inv.receive("OIL-POE32", 4_000, &[]).await;
    let unit = inv
        .call(
            "PATCH",
            "/api/v1/inventory/parts/OIL-POE32",
            Some(json!({"unit": "pcs"})),
        )
        .await;
    assert_eq!(unit.status, StatusCode::CONFLICT);
    assert_eq!(unit.code(), "stock_on_hand");
    let gone = inv
        .call("DELETE", "/api/v1/inventory/parts/OIL-POE32", None)
        .await;
    assert_eq!(gone.code(), "stock_on_hand");
    // Renaming is fine; once stock is adjusted out, it can be withdrawn.
    let renamed = inv
        .ok(
            "PATCH",
            "/api/v1/inventory/parts/OIL-POE32",
            json!({"name": "POE oil ISO 32", "unit_cost_minor": 16_000}),
        )
        .await;
    assert_eq!(renamed["name"], "POE oil ISO 32");
    inv.ok(
        "POST",
        "/api/v1/inventory/adjustments",
        json!({"location": "WH-1", "reason": "expired", "lines": [{"sku": "OIL-POE32", "delta": -4000}]}),
    )
    .await;
    let withdrawn = inv
        .ok("DELETE", "/api/v1/inventory/parts/OIL-POE32", json!(null))
        .await;
    assert_eq!(withdrawn["withdrawn"], true);
    let list = inv
        .ok("GET", "/api/v1/inventory/parts?q=oil", json!(null))
        .await;
    assert_eq!(list["total"], 0);
    let list = inv
        .ok(
            "GET",
            "/api/v1/inventory/parts?q=oil&include_withdrawn=true",
            json!(null),
        )
        .await;
    assert_eq!(list["total"], 1);
    inv.assert_ledger_clean().await;
}
