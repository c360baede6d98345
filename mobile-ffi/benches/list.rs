//! FFI overhead, Rust side: listing 5,000 orders with `FieldClient::list_orders`, the same call
//! `mobile-ffi/tests/python/bench_list.py` makes through the Python binding on the same store
//! (`scripts/bench-ffi` runs both and prints one table).
//!
//! `cargo bench -p mobile-ffi --bench list` runs the full size; `cargo test --benches` a smoke
//! size. With `LASTMILE_BENCH_FIXTURE=<dir>` the store is kept there, with the credentials in
//! `<dir>/credentials.json`, for the Python half.

use mobile_ffi::{ClientConfig, DeviceCredentials, FieldClient, OrderQuery, OrderSort};
use std::time::Instant;
use sync_core::workorder::{Asset, Customer, NewWorkOrder, Priority, Site};
use sync_core::{DocId, EditContext, Hlc, OrgId, Role, Store, UserId, WorkOrderDoc};

const NOW: i64 = 1_795_510_800_000;

fn seed(db: &std::path::Path, n: usize, user: UserId) {
    let store = Store::open(db).unwrap();
    let org = OrgId::new();
    let ctx = EditContext {
        user: UserId::new(),
        role: Role::Dispatcher,
        device_time_ms: NOW,
        hlc: Hlc::ZERO.tick(NOW, 1),
    };
    for chunk in (0..n).collect::<Vec<_>>().chunks(250) {
        store
            .write(|tx| {
                for &i in chunk {
                    let new = NewWorkOrder {
                        id: DocId::new(),
                        org,
                        number: format!("WO-{i:06}"),
                        customer: Customer {
                            id: format!("C-{}", i % 200),
                            name: format!("Customer {}", i % 200),
                        },
                        site: Site {
                            address: format!("{i} Harbour Road"),
                            lat: 31.0 + (i % 100) as f64 * 0.01,
                            lon: 121.0 + (i / 100) as f64 * 0.01,
                        },
                        asset: Asset {
                            id: format!("A-{i}"),
                            model: "Chiller X200".into(),
                            serial: format!("SN-{i:06}"),
                        },
                        problem: "Compressor trips after ten minutes".into(),
                        priority: Priority::Normal,
                        sla_due_ms: Some(NOW + i as i64 * 60_000),
                    };
                    let mut doc = WorkOrderDoc::create(store.actor(), &new, &ctx)?;
                    doc.assign(&ctx, Some(user))?;
                    doc.schedule(
                        &ctx,
                        NOW + i as i64 * 600_000,
                        NOW + i as i64 * 600_000 + 3_600_000,
                    )?;
                    tx.persist(&mut doc, false)?;
                }
                Ok(())
            })
            .unwrap();
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (n, runs) = if full { (5_000, 50) } else { (50, 3) };
    let kept = std::env::var_os("LASTMILE_BENCH_FIXTURE").map(std::path::PathBuf::from);
    let tmp = tempfile::tempdir().unwrap();
    let dir = kept.clone().unwrap_or_else(|| tmp.path().to_owned());
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("orders.db");
    let user = UserId::new();
    let creds = DeviceCredentials {
        user_id: user.to_string(),
        org_id: OrgId::new().to_string(),
        user_name: "Bench".into(),
        email: "bench@example.test".into(),
        device_id: "bench".into(),
        token: "lmd_bench".into(),
    };
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let _ = std::fs::remove_dir_all(format!("{}.blobs", db.display()));
    let t = Instant::now();
    seed(&db, n, user);
    let seeded = t.elapsed();
    let client = FieldClient::open(
        ClientConfig::new(db.to_string_lossy(), "http://127.0.0.1:9"),
        Some(creds.clone()),
    )
    .unwrap();
    let queries = [
        ("all 5,000 by schedule", OrderQuery::default()),
        (
            "first 50 by priority",
            OrderQuery {
                sort: Some(OrderSort::Priority),
                limit: 50,
                ..Default::default()
            },
        ),
    ];
    println!(
        "list_orders over {n} orders (fixture built in {:.1} s), {runs} runs each",
        seeded.as_secs_f64()
    );
    println!();
    println!("| call | rows | median | p95 |");
    println!("|---|---:|---:|---:|");
    for (name, q) in queries {
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..runs {
            let t = Instant::now();
            rows = client.list_orders(q.clone()).unwrap().len();
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "| Rust `list_orders`, {name} | {rows} | {:.2} ms | {:.2} ms |",
            percentile(&times, 0.5),
            percentile(&times, 0.95)
        );
    }
    if let Some(dir) = kept {
        let json = format!(
            r#"{{"user_id":"{}","org_id":"{}","user_name":"Bench","email":"bench@example.test","device_id":"bench","token":"lmd_bench","runs":{runs}}}"#,
            creds.user_id, creds.org_id
        );
        std::fs::write(dir.join("credentials.json"), json).unwrap();
    }
}
