//! Stock ledger benchmark on SQLite and PostgreSQL: 10,000 parts, 1,000 locations (20
//! warehouses, 980 vans), movements per second.
//!
//! `cargo bench -p server --bench ledger` runs the full size and prints a markdown table
//! (copied into `docs/benchmarks.md`). Under `cargo test --benches` (no `--bench` argument) it
//! runs a smoke size, so CI only checks that it works. PostgreSQL is `LASTMILE_TEST_PG`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`); the bench creates and drops its own
//! database there.
//!
//! Workloads, each through the same code as the REST API (`inventory::operations` in a
//! transaction started by `Writer::begin`, which takes the global write lock):
//! - one movement per transaction: a one-line issue from a warehouse to a van, one client;
//! - the same from 4 concurrent clients;
//! - 100-line receipts (100 movements per transaction);
//! - 100 concurrent issue requests for the last 10 units of a part (exactly 10 must succeed);
//! - `inventory check` over the whole ledger.

use lastmile_server::Db;
use lastmile_server::accounts::{self, NewUser};
use lastmile_server::inventory::catalog::{self, NewPart};
use lastmile_server::inventory::ledger::Writer;
use lastmile_server::inventory::locations::{self, LocationKind, NewLocation};
use lastmile_server::inventory::operations::{self, Issue, LineIn, Receipt};
use lastmile_server::inventory::{Actor, InvError, check};
use std::sync::Arc;
use std::time::{Duration, Instant};
use sync_core::{OrgId, Role, UserId};

#[derive(Clone, Copy)]
struct Size {
    parts: usize,
    warehouses: usize,
    vans: usize,
    single: usize,
    clients: usize,
    per_client: usize,
    batches: usize,
    batch_lines: usize,
}

const FULL: Size = Size {
    parts: 10_000,
    warehouses: 20,
    vans: 980,
    single: 5_000,
    clients: 4,
    per_client: 1_000,
    batches: 50,
    batch_lines: 100,
};
const SMOKE: Size = Size {
    parts: 200,
    warehouses: 4,
    vans: 16,
    single: 100,
    clients: 2,
    per_client: 25,
    batches: 2,
    batch_lines: 20,
};

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

struct Fixture {
    db: Db,
    org: OrgId,
    user: UserId,
    warehouses: Vec<String>,
    vans: Vec<String>,
}

fn sku(p: usize) -> String {
    format!("P-{p:05}")
}

/// Initial stock per part, at warehouse `p % warehouses`.
const STOCK: i64 = 1_000;

async fn seed(db: Db, size: Size) -> (Fixture, Duration) {
    let started = Instant::now();
    let org = accounts::create_org(&db, "Bench").await.unwrap();
    let mut tx = db.begin().await.unwrap();
    let user = accounts::create_user(
        &mut tx,
        &NewUser {
            org,
            email: "stores@bench.test".into(),
            name: "Stores".into(),
            role: Role::Warehouse,
            password_hash: "x".into(),
            customer_id: None,
            team: None,
            territory: None,
        },
    )
    .await
    .unwrap();
    let mut w = Writer::begin(&mut tx, org, Actor::user(user, Role::Warehouse))
        .await
        .unwrap();
    let mut warehouses = Vec::new();
    for i in 0..size.warehouses {
        let l = locations::create(
            &mut tx,
            org,
            &NewLocation {
                code: format!("WH-{i:02}"),
                name: format!("Warehouse {i}"),
                kind: LocationKind::Warehouse,
                engineer_id: None,
            },
        )
        .await
        .unwrap();
        warehouses.push(l.id);
    }
    let mut vans = Vec::new();
    for i in 0..size.vans {
        let engineer = accounts::create_user(
            &mut tx,
            &NewUser {
                org,
                email: format!("eng{i}@bench.test"),
                name: format!("Engineer {i}"),
                role: Role::Engineer,
                password_hash: "x".into(),
                customer_id: None,
                team: None,
                territory: None,
            },
        )
        .await
        .unwrap();
        vans.push(
            locations::ensure_van(&mut tx, org, engineer)
                .await
                .unwrap()
                .unwrap()
                .id,
        );
    }
    for p in 0..size.parts {
        catalog::create(
            &mut tx,
            org,
            w.seq,
            &NewPart {
                sku: sku(p),
                name: format!("Part {p}"),
                unit: "pcs".into(),
                unit_cost_minor: 100 + p as i64,
                category: format!("Category {}", p % 40),
                ..NewPart::default()
            },
        )
        .await
        .unwrap();
    }
    for chunk in (0..size.parts).collect::<Vec<_>>().chunks(100) {
        for (wh, location) in warehouses.iter().enumerate() {
            let lines: Vec<LineIn> = chunk
                .iter()
                .filter(|p| *p % size.warehouses == wh)
                .map(|p| LineIn {
                    sku: sku(*p),
                    qty: STOCK,
                    ..LineIn::default()
                })
                .collect();
            if lines.is_empty() {
                continue;
            }
            operations::receive(
                &mut tx,
                &mut w,
                &Receipt {
                    location: Some(location.clone()),
                    supplier: "Seed".into(),
                    lines,
                    ..Receipt::default()
                },
            )
            .await
            .unwrap();
        }
    }
    tx.commit().await.unwrap();
    (
        Fixture {
            db,
            org,
            user,
            warehouses,
            vans,
        },
        started.elapsed(),
    )
}

/// One issue of `qty` of part `p` from its warehouse to a van, in its own transaction.
async fn issue(f: &Fixture, p: usize, van: usize, qty: i64) -> Result<(), InvError> {
    let mut tx = f.db.begin().await?;
    let mut w = Writer::begin(&mut tx, f.org, Actor::user(f.user, Role::Warehouse)).await?;
    operations::issue(
        &mut tx,
        &mut w,
        &Issue {
            from: Some(f.warehouses[p % f.warehouses.len()].clone()),
            to: Some(f.vans[van].clone()),
            lines: vec![LineIn {
                sku: sku(p),
                qty,
                ..LineIn::default()
            }],
            ..Issue::default()
        },
    )
    .await?;
    tx.commit().await.map_err(lastmile_server::Error::from)?;
    Ok(())
}

struct Measured {
    workload: String,
    movements: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    note: String,
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

async fn run(backend: &str, db: Db, size: Size) -> Vec<Measured> {
    let mut out = Vec::new();
    let (f, seeded) = seed(db, size).await;
    out.push(Measured {
        workload: format!(
            "seed: {} parts, {} locations, {} receipts (one transaction)",
            size.parts,
            size.warehouses + size.vans,
            size.parts
        ),
        movements: size.parts,
        elapsed: seeded,
        latencies: Vec::new(),
        note: String::new(),
    });
    let f = Arc::new(f);
    let mut rng = Rng(0x1ed6_e5ee_d5ee_d001);

    // One client, one movement per transaction.
    let mut latencies = Vec::with_capacity(size.single);
    let started = Instant::now();
    for _ in 0..size.single {
        let (p, v) = (rng.below(size.parts), rng.below(size.vans));
        let t = Instant::now();
        issue(&f, p, v, 1).await.unwrap();
        latencies.push(t.elapsed());
    }
    out.push(Measured {
        workload: "issue, 1 movement per transaction, 1 client".into(),
        movements: size.single,
        elapsed: started.elapsed(),
        latencies,
        note: String::new(),
    });

    // Several clients at once: writers serialise on the write lock.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..size.clients {
        let f = f.clone();
        let mut rng = Rng(0xC11E_0000 + c as u64);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(size.per_client);
            for _ in 0..size.per_client {
                let (p, v) = (rng.below(size.parts), rng.below(size.vans));
                let t = Instant::now();
                issue(&f, p, v, 1).await.unwrap();
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    out.push(Measured {
        workload: format!(
            "issue, 1 movement per transaction, {} concurrent clients",
            size.clients
        ),
        movements: size.clients * size.per_client,
        elapsed: started.elapsed(),
        latencies,
        note: String::new(),
    });

    // Receipts of many lines: the per-transaction cost spread over the lines.
    let mut latencies = Vec::new();
    let started = Instant::now();
    for b in 0..size.batches {
        let lines: Vec<LineIn> = (0..size.batch_lines)
            .map(|_| LineIn {
                sku: sku(rng.below(size.parts)),
                qty: 10,
                ..LineIn::default()
            })
            .collect();
        let t = Instant::now();
        let mut tx = f.db.begin().await.unwrap();
        let mut w = Writer::begin(&mut tx, f.org, Actor::user(f.user, Role::Warehouse))
            .await
            .unwrap();
        operations::receive(
            &mut tx,
            &mut w,
            &Receipt {
                location: Some(f.warehouses[b % f.warehouses.len()].clone()),
                supplier: "Bench".into(),
                lines,
                ..Receipt::default()
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        latencies.push(t.elapsed());
    }
    out.push(Measured {
        workload: format!("receipt of {} lines per transaction", size.batch_lines),
        movements: size.batches * size.batch_lines,
        elapsed: started.elapsed(),
        latencies,
        note: "latency per transaction".into(),
    });

    // 100 concurrent issue requests for the last 10 units.
    let last = size.parts - 1;
    let have = STOCK;
    issue(&f, last, 0, have - 10).await.unwrap();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = issue(&f, last, i % f.vans.len(), 1).await;
            (r, t.elapsed())
        }));
    }
    let (mut ok, mut refused, mut latencies) = (0, 0, Vec::new());
    for t in tasks {
        let (r, d) = t.await.unwrap();
        latencies.push(d);
        match r {
            Ok(()) => ok += 1,
            Err(InvError::InsufficientStock { .. }) => refused += 1,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!((ok, refused), (10, 90), "{backend}: the last 10 units");
    out.push(Measured {
        workload: "100 concurrent issues of the last 10 units".into(),
        movements: ok,
        elapsed: started.elapsed(),
        latencies,
        note: format!("{ok} succeeded, {refused} insufficient_stock"),
    });

    // The whole ledger checked against the balances.
    let started = Instant::now();
    let mut conn = f.db.pool().acquire().await.unwrap();
    let report = check::run(&mut conn, None).await.unwrap();
    assert!(report.is_clean(), "{backend}: drift {:?}", report.drifts);
    out.push(Measured {
        workload: format!(
            "inventory check: {} movements, {} balances",
            report.movements, report.balances
        ),
        movements: report.movements as usize,
        elapsed: started.elapsed(),
        latencies: Vec::new(),
        note: "no drift".into(),
    });
    out
}

fn pg_admin_url() -> String {
    std::env::var("LASTMILE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

async fn admin_sql(sql: String) {
    use sqlx::Connection;
    let mut conn = sqlx::AnyConnection::connect(&pg_admin_url())
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL is not reachable ({e}); run scripts/ensure-postgres")
        });
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .unwrap();
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let size = if full { FULL } else { SMOKE };
    let load = load_average();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    sqlx::any::install_default_drivers();
    let mut rows = Vec::new();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let db = Db::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        for m in run("SQLite", db.clone(), size).await {
            rows.push(("SQLite", m));
        }
        db.close().await;

        let name = format!("lastmile_bench_{}", uuid::Uuid::new_v4().simple());
        admin_sql(format!("CREATE DATABASE {name}")).await;
        let admin = pg_admin_url();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        let db = Db::connect(&format!("{base}/{name}")).await.unwrap();
        db.migrate().await.unwrap();
        for m in run("PostgreSQL", db.clone(), size).await {
            rows.push(("PostgreSQL", m));
        }
        db.close().await;
        admin_sql(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
    });

    println!(
        "Ledger benchmark, {} size: {} parts, {} locations; load average at start {load}",
        if full { "full" } else { "smoke" },
        size.parts,
        size.warehouses + size.vans
    );
    println!();
    println!("| database | workload | movements | time | movements/s | p50 | p99 | note |");
    println!("|---|---|---:|---:|---:|---:|---:|---|");
    for (backend, m) in &rows {
        let mut lat = m.latencies.clone();
        lat.sort();
        let (p50, p99) = if lat.is_empty() {
            ("—".to_owned(), "—".to_owned())
        } else {
            (ms(pct(&lat, 0.50)), ms(pct(&lat, 0.99)))
        };
        println!(
            "| {backend} | {} | {} | {:.2} s | {:.0} | {p50} | {p99} | {} |",
            m.workload,
            m.movements,
            m.elapsed.as_secs_f64(),
            m.movements as f64 / m.elapsed.as_secs_f64().max(1e-9),
            m.note
        );
    }
    if full {
        let single = rows
            .iter()
            .find(|(b, m)| {
                *b == "SQLite"
                    && m.workload
                        .starts_with("issue, 1 movement per transaction, 1 client")
            })
            .map(|(_, m)| m.movements as f64 / m.elapsed.as_secs_f64())
            .unwrap_or_default();
        println!();
        println!(
            "Target: >= 2,000 movements/s on SQLite (one movement per transaction, one client): {:.0}/s, {}",
            single,
            if single >= 2_000.0 { "pass" } else { "FAIL" }
        );
    }
}
