//! The catalog (search, CSV import and export), who sees which stock, reports, and the
//! reference data phones receive.

use crate::common::TestDb;
use crate::support::{Inv, Phone, line};
use axum::http::StatusCode;
use lastmile_server::inventory::reference_for_device;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

conformance!(
    the_catalog_is_searched_by_words_category_and_model,
    a_catalog_csv_round_trips_and_skips_bad_rows_when_asked,
    a_fifty_thousand_row_import_shows_progress_and_lands_whole,
    engineers_see_the_catalog_and_only_their_own_van,
    consumption_is_reported_by_part_engineer_customer_order_and_period,
    a_phone_receives_the_catalog_and_its_van_as_versioned_deltas,
    the_demo_has_a_stocked_catalog_and_a_clean_ledger,
);

/// Poll an import job until it is no longer running.
pub async fn wait_for(inv: &Inv, job: &Value) -> Value {
    let id = job["id"].as_str().expect("job id");
    let started = Instant::now();
    loop {
        let j = inv
            .ok(
                "GET",
                &format!("/api/v1/inventory/catalog/imports/{id}"),
                json!(null),
            )
            .await;
        if j["status"] != "running" {
            return j;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "import still running: {j}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn the_catalog_is_searched_by_words_category_and_model(db: TestDb) {
    let inv = Inv::new(db).await;
    for (sku, name, cat, models) in [
        (
            "TXV-TE5",
            "Thermostatic expansion valve TE5",
            "Refrigeration",
            vec!["Carrier 30XA"],
        ),
        (
            "TXV-TE12",
            "Thermostatic expansion valve TE12",
            "Refrigeration",
            vec!["Daikin VRV IV"],
        ),
        (
            "CAP-35UF",
            "Run capacitor 35 uF",
            "Electrical",
            vec!["Carrier 30XA", "Daikin VRV IV"],
        ),
        (
            "SEAL-CR10",
            "Mechanical seal 100% carbon",
            "Pumps",
            vec!["Grundfos CR 10"],
        ),
    ] {
        inv.ok(
            "POST",
            "/api/v1/inventory/parts",
            json!({"sku": sku, "name": name, "unit": "pcs", "category": cat,
                   "compatible_models": models, "unit_cost_minor": 1000}),
        )
        .await;
    }
    let q = |query: &str| {
        let inv = &inv;
        let path = format!("/api/v1/inventory/parts?{query}");
        async move {
            let r = inv.ok("GET", &path, json!(null)).await;
            r["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["sku"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(q("q=expansion%20VALVE").await, ["TXV-TE12", "TXV-TE5"]);
    assert_eq!(q("q=te5").await, ["TXV-TE5"]);
    assert_eq!(q("category=Electrical").await, ["CAP-35UF"]);
    assert_eq!(q("model=Carrier%2030XA").await, ["CAP-35UF", "TXV-TE5"]);
    assert_eq!(
        q("model=Carrier").await,
        Vec::<String>::new(),
        "a whole model only"
    );
    assert_eq!(
        q("q=100%25").await,
        ["SEAL-CR10"],
        "LIKE wildcards are literal"
    );
    assert_eq!(q("limit=2&offset=1").await, ["SEAL-CR10", "TXV-TE12"]);
    let one = inv
        .ok("GET", "/api/v1/inventory/parts/CAP-35UF", json!(null))
        .await;
    assert_eq!(one["minor_per_unit"], 1);
    let missing = inv.call("GET", "/api/v1/inventory/parts/NOPE", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

async fn a_catalog_csv_round_trips_and_skips_bad_rows_when_asked(db: TestDb) {
    let inv = Inv::new(db).await;
    let csv = "sku,name,description,unit,unit_cost,category,serial_tracked,compatible_models,\
               reorder_point,reorder_qty\n\
               CAP-35UF,Run capacitor 35uF,\"Metal can, 440V\",pcs,18.50,Electrical,no,\
               Carrier 30XA|Daikin VRV IV,5,20\n\
               CU-3/8IN,Copper tube 3/8 in,,m,23,Piping,false,,10000,50000\n\
               COMP-ZR48,Scroll compressor ZR48,,pcs,4380.00,Compressors,yes,Daikin VRV IV,,\n\
               BAD-1,Bad flag,,pcs,1,Electrical,perhaps,,,\n";
    let (status, job) = crate::bad_input::import(&inv, "skip_bad_rows", csv).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["total"], 4);
    let job = wait_for(&inv, &job).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["imported"], 3);
    assert_eq!(job["error_count"], 1);
    assert_eq!(job["processed"], 4);
    let errors = inv
        .ok(
            "GET",
            &format!(
                "/api/v1/inventory/catalog/imports/{}/errors",
                job["id"].as_str().unwrap()
            ),
            json!(null),
        )
        .await;
    assert_eq!(
        errors,
        json!([{"line": 5, "reason": "serial_tracked: \"perhaps\" is not true or false"}])
    );
    let cap = inv
        .ok("GET", "/api/v1/inventory/parts/CAP-35UF", json!(null))
        .await;
    assert_eq!(cap["unit_cost_minor"], 1850);
    assert_eq!(cap["description"], "Metal can, 440V");
    assert_eq!(
        cap["compatible_models"],
        json!(["Carrier 30XA", "Daikin VRV IV"])
    );
    let zr = inv
        .ok("GET", "/api/v1/inventory/parts/COMP-ZR48", json!(null))
        .await;
    assert_eq!(zr["serial_tracked"], true);
    // The reorder levels went to the only warehouse.
    inv.receive("CAP-35UF", 2, &[]).await;
    let low = inv
        .ok("GET", "/api/v1/inventory/low-stock", json!(null))
        .await;
    assert_eq!(low[0]["sku"], "CAP-35UF");
    assert_eq!(low[0]["reorder_qty"], 20);

    // Export, then import the export again: nothing changes but the change sequence.
    let exported = inv
        .app
        .get(
            "/api/v1/inventory/catalog/export?location=WH-1",
            &inv.f.warehouse.token,
        )
        .await;
    assert_eq!(exported.status, StatusCode::OK);
    assert_eq!(
        exported.headers.get("content-type").unwrap(),
        "text/csv; charset=utf-8"
    );
    let text = exported.body.as_str().unwrap().to_owned();
    assert!(
        text.starts_with("sku,name,description,unit,unit_cost"),
        "{text}"
    );
    assert!(text.contains("4380.00"), "{text}");
    let parts_before = inv.ok("GET", "/api/v1/inventory/parts", json!(null)).await;
    let (status, job) = crate::bad_input::import(&inv, "all_or_nothing", &text).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let job = wait_for(&inv, &job).await;
    assert_eq!(job["status"], "done", "{job}");
    let parts_after = inv.ok("GET", "/api/v1/inventory/parts", json!(null)).await;
    let strip = |v: &Value| {
        let mut v = v.clone();
        for p in v["items"].as_array_mut().unwrap() {
            for k in ["seq", "updated_at_ms"] {
                p.as_object_mut().unwrap().remove(k);
            }
        }
        v
    };
    assert_eq!(strip(&parts_after), strip(&parts_before));
    // Changing the unit of a part in stock is a bad row, caught when the import applies.
    let (_, job) = crate::bad_input::import(
        &inv,
        "skip_bad_rows",
        "sku,name,unit\nCAP-35UF,Capacitor,box\nNEW-9,New,pcs\n",
    )
    .await;
    let job = wait_for(&inv, &job).await;
    assert_eq!(job["status"], "done");
    assert_eq!(job["imported"], 1);
    assert_eq!(job["errors"][0]["line"], 2);
    assert!(
        job["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("in stock")
    );
    inv.assert_ledger_clean().await;
}

async fn a_fifty_thousand_row_import_shows_progress_and_lands_whole(db: TestDb) {
    let inv = Inv::new(db).await;
    let mut csv = String::from("sku,name,description,unit,unit_cost,category,compatible_models\n");
    for i in 0..50_000 {
        csv.push_str(&format!(
            "P-{i:06},Part number {i},Generated spare part {i},pcs,{}.{:02},Cat {},Model {}|Model {}\n",
            i % 900,
            i % 100,
            i % 40,
            i % 25,
            i % 7
        ));
    }
    let started = Instant::now();
    let (status, job) = crate::bad_input::import(&inv, "all_or_nothing", &csv).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["total"], 50_000);
    let id = job["id"].as_str().unwrap().to_owned();
    let mut seen = Vec::new();
    let job = loop {
        let j = inv
            .ok(
                "GET",
                &format!("/api/v1/inventory/catalog/imports/{id}"),
                json!(null),
            )
            .await;
        seen.push(j["processed"].as_i64().unwrap());
        if j["status"] != "running" {
            break j;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["imported"], 50_000);
    assert_eq!(job["processed"], 50_000);
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "progress never goes back"
    );
    assert!(
        seen.iter().any(|p| *p > 0 && *p < 50_000),
        "progress was visible while it ran: {seen:?}"
    );
    let listed = inv
        .ok("GET", "/api/v1/inventory/parts?limit=1", json!(null))
        .await;
    assert_eq!(listed["total"], 50_000);
    eprintln!(
        "50,000-row import: {:?}, progress polled {} times",
        started.elapsed(),
        seen.len()
    );
}

async fn engineers_see_the_catalog_and_only_their_own_van(db: TestDb) {
    let inv = Inv::new(db).await;
    inv.part("CAP-35UF", "pcs", false).await;
    inv.receive("CAP-35UF", 10, &[]).await;
    inv.issue_to(inv.f.engineer.id, "CAP-35UF", 3, &[]).await;
    inv.issue_to(inv.f.other_engineer.id, "CAP-35UF", 2, &[])
        .await;
    let mine = inv.van(inv.f.engineer.id).await;
    let theirs = inv.van(inv.f.other_engineer.id).await;
    let eng = &inv.f.engineer.token;
    let parts = inv.app.get("/api/v1/inventory/parts", eng).await;
    assert_eq!(parts.body["total"], 1);
    let locations = inv.app.get("/api/v1/inventory/locations", eng).await;
    assert_eq!(locations.body.as_array().unwrap().len(), 1);
    assert_eq!(locations.body[0]["id"], mine.as_str());
    // Whatever location the engineer names, the stock is their van's.
    let stock = inv
        .app
        .get(&format!("/api/v1/inventory/stock?location={theirs}"), eng)
        .await;
    assert_eq!(stock.body["total"], 1);
    assert_eq!(stock.body["items"][0]["location_id"], mine.as_str());
    assert_eq!(stock.body["items"][0]["qty"], 3);
    let other = inv
        .app
        .get(&format!("/api/v1/inventory/locations/{theirs}"), eng)
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    let moves = inv.app.get("/api/v1/inventory/movements", eng).await;
    assert_eq!(moves.body["total"], 1);
    // The device token is the same engineer.
    let dev = inv
        .app
        .get("/api/v1/inventory/stock", &inv.f.device_token)
        .await;
    assert_eq!(dev.body["items"][0]["location_id"], mine.as_str());
    // Warehouse staff list every van (every engineer has one).
    let vans = inv
        .ok("GET", "/api/v1/inventory/locations?kind=van", json!(null))
        .await;
    assert_eq!(vans.as_array().unwrap().len(), 2);
    // An engineer changes nothing; a customer reads nothing.
    let r = inv
        .app
        .post(
            "/api/v1/inventory/receipts",
            eng,
            json!({"supplier": "x", "lines": [{"sku": "CAP-35UF", "qty": 1}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = inv
        .app
        .get("/api/v1/inventory/parts", &inv.f.customer.token)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

async fn consumption_is_reported_by_part_engineer_customer_order_and_period(db: TestDb) {
    let inv = Inv::new(db).await;
    inv.part("CAP-35UF", "pcs", false).await;
    inv.part("R410A", "kg", false).await;
    inv.receive("CAP-35UF", 10, &[]).await;
    inv.receive("R410A", 20_000, &[]).await;
    inv.issue_to(inv.f.engineer.id, "CAP-35UF", 4, &[]).await;
    inv.issue_to(inv.f.engineer.id, "R410A", 5_000, &[]).await;
    let phone = Phone::new(inv.f.engineer.id, &inv.f.device_token);
    let voided = phone
        .edit_and_sync(&inv, inv.order, |d, p| {
            let v = d.start_visit(&p.ctx()).unwrap();
            d.consume_part(&p.ctx(), &v, &line("CAP-35UF", 2)).unwrap();
            d.consume_part(&p.ctx(), &v, &line("R410A", 1_500)).unwrap();
            let wrong = d.consume_part(&p.ctx(), &v, &line("CAP-35UF", 1)).unwrap();
            (v, wrong)
        })
        .await;
    phone
        .edit_and_sync(&inv, inv.order, |d, p| {
            d.void_consumption(&p.ctx(), &voided.0, &voided.1).unwrap();
        })
        .await;
    let report = |q: &str| {
        let inv = &inv;
        let path = format!("/api/v1/inventory/reports/consumption?{q}");
        async move { inv.ok("GET", &path, json!(null)).await }
    };
    let by_part = report("group_by=part").await;
    assert_eq!(by_part.as_array().unwrap().len(), 2, "{by_part}");
    let cap = by_part
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "CAP-35UF")
        .unwrap();
    assert_eq!(cap["qty"], 2, "the voided line is netted out");
    assert_eq!(cap["lines"], 2);
    assert_eq!(cap["label"], "Part CAP-35UF");
    assert_eq!(cap["value_minor"], 2 * 1250);
    let gas = by_part
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "R410A")
        .unwrap();
    assert_eq!(gas["value_minor"], 1250 * 3 / 2, "1.5 kg at 12.50 a kg");
    let by_engineer = report("group_by=engineer").await;
    assert_eq!(by_engineer[0]["key"], inv.f.engineer.id.to_string());
    assert_eq!(by_engineer[0]["label"], "engineer");
    let by_customer = report("group_by=customer").await;
    assert_eq!(by_customer[0]["key"], inv.f.customer_id.as_str());
    assert_eq!(by_customer[0]["label"], "Acme Cold Storage");
    let by_order = report("group_by=work_order").await;
    assert_eq!(by_order[0]["label"], "WO-000001");
    let by_month = report("group_by=period&period=month&tz_offset_minutes=480").await;
    assert_eq!(by_month.as_array().unwrap().len(), 1, "{by_month}");
    assert_eq!(by_month[0]["qty"], 1_502);
    let none = report("group_by=part&from_ms=1900000000000").await;
    assert_eq!(none, json!([]));
    let bad = inv
        .call(
            "GET",
            "/api/v1/inventory/reports/consumption?group_by=colour",
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    inv.assert_ledger_clean().await;
}

async fn a_phone_receives_the_catalog_and_its_van_as_versioned_deltas(db: TestDb) {
    let inv = Inv::new(db).await;
    let org = inv.org();
    let engineer = inv.f.engineer.id;
    inv.part("CAP-35UF", "pcs", false).await;
    inv.part("MOTOR-FAN", "pcs", true).await;
    let mut conn = inv.app.state.db.pool().acquire().await.unwrap();
    // First sync: everything, marked full, an empty van.
    let full = reference_for_device(&mut conn, org, engineer, 0)
        .await
        .unwrap()
        .expect("a full copy");
    assert!(full.full);
    assert_eq!(full.catalog.len(), 2);
    assert_eq!(full.van, Some(Vec::new()));
    let v1 = full.version;
    // Nothing changed since.
    assert_eq!(
        reference_for_device(&mut conn, org, engineer, v1)
            .await
            .unwrap(),
        None
    );
    drop(conn);
    // Stock into the warehouse changes nothing the phone holds; stock into its van does.
    inv.receive("CAP-35UF", 5, &[]).await;
    inv.receive("MOTOR-FAN", 2, &["FM-1", "FM-2"]).await;
    let mut conn = inv.app.state.db.pool().acquire().await.unwrap();
    assert_eq!(
        reference_for_device(&mut conn, org, engineer, v1)
            .await
            .unwrap(),
        None
    );
    drop(conn);
    inv.issue_to(engineer, "CAP-35UF", 2, &[]).await;
    inv.issue_to(engineer, "MOTOR-FAN", 1, &["FM-2"]).await;
    let mut conn = inv.app.state.db.pool().acquire().await.unwrap();
    let d = reference_for_device(&mut conn, org, engineer, v1)
        .await
        .unwrap()
        .expect("the van changed");
    assert!(!d.full);
    assert!(d.catalog.is_empty());
    let van = d.van.expect("the whole van");
    assert_eq!(van.len(), 2);
    assert_eq!((van[0].sku.as_str(), van[0].qty), ("CAP-35UF", 2));
    assert_eq!(van[1].serials, vec!["FM-2"]);
    let v2 = d.version;
    assert!(v2 > v1);
    // Another engineer's van is not this phone's business.
    let other = reference_for_device(&mut conn, org, inv.f.other_engineer.id, v2)
        .await
        .unwrap();
    assert_eq!(other, None);
    drop(conn);
    // A changed part and a withdrawn one arrive as a catalog delta without the van.
    inv.ok(
        "PATCH",
        "/api/v1/inventory/parts/CAP-35UF",
        json!({"name": "Run capacitor 35 uF"}),
    )
    .await;
    inv.part("OLD-1", "pcs", false).await;
    inv.ok("DELETE", "/api/v1/inventory/parts/OLD-1", json!(null))
        .await;
    let mut conn = inv.app.state.db.pool().acquire().await.unwrap();
    let d = reference_for_device(&mut conn, org, engineer, v2)
        .await
        .unwrap()
        .expect("catalog changed");
    assert_eq!(d.van, None);
    let names: Vec<(&str, bool)> = d
        .catalog
        .iter()
        .map(|c| (c.sku.as_str(), c.deleted))
        .collect();
    assert_eq!(names, [("CAP-35UF", false), ("OLD-1", true)]);
    // A full copy leaves withdrawn parts out.
    let full = reference_for_device(&mut conn, org, engineer, 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(full.catalog.len(), 2);
    // A version this database never issued is answered with a full copy.
    let future = reference_for_device(&mut conn, org, engineer, 1 << 40)
        .await
        .unwrap()
        .unwrap();
    assert!(future.full);
    // The sync endpoint carries it to the phone with its pulls.
    drop(conn);
    let phone = Phone::new(engineer, &inv.f.device_token);
    let mut doc = phone.load(&inv.app, org, inv.order).await;
    let resp = phone.post(&inv.app, &phone.request(&mut doc)).await;
    let reference = resp.reference.expect("reference data in the sync response");
    assert!(reference.full);
    assert_eq!(reference.van.unwrap().len(), 2);
}

async fn the_demo_has_a_stocked_catalog_and_a_clean_ledger(db: TestDb) {
    let app = crate::common::TestApp::new(db).await;
    let summary = lastmile_server::demo::seed(&app.state).await.unwrap();
    let org = summary.org.to_string();
    let count = |sql: &'static str| {
        let app = &app;
        let org = org.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(org)
                .fetch_one(app.state.db.pool())
                .await
                .unwrap()
        }
    };
    let parts = count("SELECT COUNT(*) FROM parts WHERE org_id = $1").await;
    assert!((250..=400).contains(&parts), "{parts} parts");
    assert_eq!(
        count("SELECT COUNT(*) FROM locations WHERE org_id = $1 AND kind = 'van'").await,
        20
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM locations WHERE org_id = $1 AND kind <> 'van'").await,
        3
    );
    assert!(
        count("SELECT COUNT(*) FROM stock_movements WHERE org_id = $1 AND kind = 'consume'").await
            > 50
    );
    assert!(
        count("SELECT COUNT(*) FROM parts_requests WHERE org_id = $1 AND status = 'pending'").await
            > 10
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM serials WHERE org_id = $1 AND state = 'installed'").await,
        1,
        "the demo's traceable fan motor"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM posted_lines WHERE org_id = $1 AND status <> 'posted'").await,
        0
    );
    let mut conn = app.state.db.pool().acquire().await.unwrap();
    let report = lastmile_server::inventory::check::run(&mut conn, Some(summary.org))
        .await
        .unwrap();
    assert!(report.is_clean(), "{:?}", report.drifts);
    // Seeding again changes nothing.
    drop(conn);
    let again = lastmile_server::demo::seed(&app.state).await.unwrap();
    assert!(!again.created);
}
