//! Spare parts end to end: the real `lastmile` binary over HTTP, warehouse staff over the REST
//! API, an engineer's phone (a sync-core device store) working offline, on SQLite and on
//! PostgreSQL. Invariant 4: every consumption line is posted to the ledger exactly once, and
//! the ledger and the balances agree (`lastmile inventory check`).

use lastmile_e2e::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::process::Command;
use sync_core::protocol::device;
use sync_core::protocol::wire::{self, Limits};
use sync_core::workorder::NewConsumption;
use sync_core::{DocId, LineId};

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name(lastmile_e2e::Backend::Sqlite)
            }
            #[test]
            fn postgres() {
                super::$name(lastmile_e2e::Backend::Postgres)
            }
        }
    )*};
}

on_both_backends!(offline_consumption_is_posted_once_per_line_and_serials_are_traced);

fn ok(office: &Office, method: &str, path: &str, body: Value) -> Value {
    let body = (method != "GET").then_some(body);
    let (status, b) = office.call(method, path, body);
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {b}"
    );
    b
}

fn part(sku: &str, qty: i64) -> NewConsumption {
    NewConsumption {
        sku: sku.into(),
        qty,
        serial: None,
        replaced_serial: None,
    }
}

/// `lastmile inventory check` against the test database: (success, output).
fn inventory_check(db: &TestDb) -> (bool, String) {
    let mut cmd = Command::new(lastmile_bin());
    cmd.args(["inventory", "check"])
        .env_remove("LASTMILE_CONFIG")
        .env("LASTMILE_DATA_DIR", db.data_dir.path())
        .env("LASTMILE_LOG_FORMAT", "json")
        .env("RUST_LOG", "warn");
    match db.url() {
        Some(u) => cmd.env("DATABASE_URL", u),
        None => cmd.env_remove("DATABASE_URL"),
    };
    let out = cmd.output().expect("run lastmile inventory check");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn offline_consumption_is_posted_once_per_line_and_serials_are_traced(backend: Backend) {
    let db = TestDb::new(backend);
    let org = setup_org(&db, 1);
    let stores_email = format!("stores@{}", &org.dispatcher_email["dispatch@".len()..]);
    let server = db.serve();
    let office = Office::login(&server.url, &org.dispatcher_email);
    let (_, me) = office.call("GET", "/api/v1/me", None);
    let org_ref = me["user"]["org_id"]
        .as_str()
        .expect("the organisation")
        .to_owned();
    db.admin(&[
        "create-user",
        "--org",
        &org_ref,
        "--email",
        &stores_email,
        "--name",
        "Qian Jin",
        "--role",
        "warehouse",
    ]);
    let stores = Office::login(&server.url, &stores_email);
    let (engineer, engineer_email) = org.engineers[0].clone();

    // The warehouse: a location, three parts, stock, and a van kit for the engineer.
    ok(
        &stores,
        "POST",
        "/api/v1/inventory/locations",
        json!({"code": "WH-SH", "name": "Shanghai central", "kind": "warehouse"}),
    );
    for (sku, unit, serial) in [
        ("CAP-35UF", "pcs", false),
        ("R410A", "kg", false),
        ("COMP-ZR48", "pcs", true),
    ] {
        ok(
            &stores,
            "POST",
            "/api/v1/inventory/parts",
            json!({"sku": sku, "name": format!("Part {sku}"), "unit": unit,
                   "unit_cost_minor": 1000, "serial_tracked": serial}),
        );
    }
    ok(
        &stores,
        "POST",
        "/api/v1/inventory/receipts",
        json!({"supplier": "Emerson Climate", "reference": "PO-2026-0042", "lines": [
            {"sku": "CAP-35UF", "qty": 10},
            {"sku": "R410A", "qty": 20_000, "unit": "kg"},
            {"sku": "COMP-ZR48", "qty": 2, "serials": ["ZR-0001", "ZR-0002"]}]}),
    );
    ok(
        &stores,
        "POST",
        "/api/v1/inventory/issues",
        json!({"engineer_id": engineer.to_string(), "lines": [
            {"sku": "CAP-35UF", "qty": 3},
            {"sku": "R410A", "qty": 5_000},
            {"sku": "COMP-ZR48", "qty": 1, "serials": ["ZR-0001"]}]}),
    );

    // Two orders for the engineer; the phone syncs them with its catalog and van.
    let orders: Vec<DocId> = (0..2).map(|n| office.create_order(n)).collect();
    for o in &orders {
        office.assign(*o, Some(engineer));
    }
    let phone = Phone::register(&server.url, engineer, &engineer_email);
    let first = phone.sync().unwrap();
    assert_eq!(first.received.len(), 2);
    assert!(phone.store.catalog_item("COMP-ZR48").unwrap().is_some());
    let van: Vec<_> = phone.store.van_stock().unwrap();
    let cap = van
        .iter()
        .find(|l| l.sku == "CAP-35UF")
        .expect("van stock on the phone");
    assert_eq!(cap.available, 3);
    let zr = van.iter().find(|l| l.sku == "COMP-ZR48").unwrap();
    assert_eq!(zr.serials, vec!["ZR-0001"]);

    // Offline: a compressor swap and gas on the first order; capacitors and gas on the second
    // (one more capacitor than the van holds by then).
    let mut lines: Vec<LineId> = Vec::new();
    lines.extend(phone.edit(orders[0], |d, c| {
        let v = d.start_visit(c)?;
        Ok(vec![
            d.consume_part(c, &v, &part("CAP-35UF", 2))?,
            d.consume_part(c, &v, &part("R410A", 1_500))?,
            d.consume_part(
                c,
                &v,
                &NewConsumption {
                    sku: "COMP-ZR48".into(),
                    qty: 1,
                    serial: Some("ZR-0001".into()),
                    replaced_serial: Some("ZR-OLD-7731".into()),
                },
            )?,
        ])
    }));
    lines.extend(phone.edit(orders[1], |d, c| {
        let v = d.start_visit(c)?;
        Ok(vec![
            d.consume_part(c, &v, &part("CAP-35UF", 2))?,
            d.consume_part(c, &v, &part("R410A", 1_000))?,
        ])
    }));
    // Offline the phone counts what it used against the van.
    let van = phone.store.van_stock().unwrap();
    assert_eq!(
        van.iter().find(|l| l.sku == "CAP-35UF").unwrap().available,
        -1
    );

    // The sync request goes out twice (a retry after a lost answer), then the phone syncs
    // normally, and once more.
    let req = device::build_request(&phone.store, &Limits::default()).unwrap();
    let bytes = wire::encode_request(&req).unwrap();
    phone.post(&bytes).unwrap();
    phone.post(&bytes).unwrap();
    phone.sync().unwrap();
    phone.sync().unwrap();
    assert!(phone.store.read(|tx| tx.pending()).unwrap().is_empty());

    // Exactly one posting per line.
    let consumed = ok(
        &stores,
        "GET",
        "/api/v1/inventory/movements?kind=consume&limit=100",
        json!(null),
    );
    assert_eq!(consumed["total"], 5, "{consumed}");
    let posted: BTreeSet<String> = consumed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["line_id"].as_str().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> = lines.iter().map(ToString::to_string).collect();
    assert_eq!(posted, expected);
    let removals = ok(
        &stores,
        "GET",
        "/api/v1/inventory/movements?kind=removal",
        json!(null),
    );
    assert_eq!(removals["total"], 1);

    // Over-consumption: the van is at -1 capacitors, with one discrepancy for the warehouse.
    let stock = ok(
        &stores,
        "GET",
        "/api/v1/inventory/stock?kind=van",
        json!(null),
    );
    let line = |sku: &str| {
        stock["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["sku"] == sku)
            .unwrap()
            .clone()
    };
    assert_eq!(line("CAP-35UF")["qty"], -1);
    assert_eq!(line("R410A")["qty"], 2_500);
    assert_eq!(
        line("COMP-ZR48")["defective_serials"],
        json!(["ZR-OLD-7731"])
    );
    let open = ok(
        &stores,
        "GET",
        "/api/v1/inventory/discrepancies",
        json!(null),
    );
    assert_eq!(open["total"], 1, "{open}");
    assert_eq!(open["items"][0]["kind"], "negative_stock");
    assert_eq!(open["items"][0]["sku"], "CAP-35UF");
    assert_eq!(open["items"][0]["work_order_id"], orders[1].to_string());
    assert_eq!(open["items"][0]["engineer_id"], engineer.to_string());
    // The phone's van follows the server after the sync.
    let van = phone.store.van_stock().unwrap();
    let cap = van.iter().find(|l| l.sku == "CAP-35UF").unwrap();
    assert_eq!((cap.server_qty, cap.pending_use), (-1, 0));

    // The removed compressor goes back through quarantine to the supplier.
    ok(
        &stores,
        "POST",
        "/api/v1/inventory/returns",
        json!({"engineer_id": engineer.to_string(), "condition": "defective",
               "lines": [{"sku": "COMP-ZR48", "qty": 1, "serials": ["ZR-OLD-7731"]}]}),
    );
    ok(
        &stores,
        "POST",
        "/api/v1/inventory/supplier-returns",
        json!({"supplier": "Emerson Climate", "reference": "RMA-88812",
               "lines": [{"sku": "COMP-ZR48", "qty": 1, "serials": ["ZR-OLD-7731"]}]}),
    );
    let kinds = |history: &Value| -> Vec<String> {
        history["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    let new = ok(
        &stores,
        "GET",
        "/api/v1/inventory/serials/ZR-0001",
        json!(null),
    );
    assert_eq!(kinds(&new), ["receive", "issue", "consume"]);
    assert_eq!(new["history"][0]["reference"], "PO-2026-0042");
    assert_eq!(new["history"][2]["work_order_id"], orders[0].to_string());
    assert_eq!(new["history"][2]["asset_id"], "A-0");
    assert_eq!(new["now"][0]["state"], "installed");
    let old = ok(
        &stores,
        "GET",
        "/api/v1/inventory/serials/ZR-OLD-7731",
        json!(null),
    );
    assert_eq!(
        kinds(&old),
        ["removal", "return_defective", "return_supplier"]
    );
    assert_eq!(old["history"][0]["work_order_id"], orders[0].to_string());
    assert_eq!(old["history"][2]["reference"], "RMA-88812");
    assert_eq!(old["now"][0]["state"], "returned_to_supplier");

    // And the ledger agrees with every balance.
    let (clean, out) = inventory_check(&db);
    assert!(clean, "{out}");
    assert!(out.contains("no drift"), "{out}");
}
