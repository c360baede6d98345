//! Fleet load on the sync endpoint: the real `lastmile` binary as a child process on loopback,
//! driven by simulated phones from a tokio load generator, over SQLite and over PostgreSQL.
//!
//! 1. **Fleet**: N phones each sync every 30 s, spread evenly over the period; about 5 % of the
//!    syncs carry an edit (a check-in, a parts line or notes on one of the phone's 3 orders),
//!    the rest are idle. After every phone's first sync and a warm-up of one period, a measured
//!    window. Latency is from the moment a sync was *due* to the moment its response was applied,
//!    so time spent queued behind a slow server counts (no coordinated omission); the load
//!    generator talks over a bounded pool of keep-alive connections. N grows until p99 passes
//!    far beyond the 200 ms target or syncs fail.
//! 2. **End-of-day burst**: 200 phones, each holding 20 orders it has just worked on (visit and
//!    check-in, a parts line, notes, completed), push at the same instant, each over its own
//!    connection: merges per second and p99 of the request latency.
//!
//! `cargo bench -p server --bench fleet` runs the full size (release binary) and prints markdown
//! tables for `docs/benchmarks.md`; `-- sqlite`, `-- postgres`, `-- fleet`, `-- burst` pick parts.
//! `FLEET_SIZES=500,1000`, `FLEET_WINDOW_SECS`, `FLEET_WARMUP_SECS` override the sizes. Under
//! `cargo test --benches` (no `--bench` argument) it runs a smoke size on SQLite with the debug
//! binary: it checks that every sync succeeds and judges no figure.
//!
//! Phones keep their state in memory (`fleet/device.rs`); the fleet is seeded as described in
//! `fleet/setup.rs`.

#[path = "fleet/device.rs"]
mod device;
#[path = "fleet/setup.rs"]
mod setup;

use device::{Conn, Rng, SimDevice, SyncStats};
use setup::{Backend, Kind, Server};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use sync_core::protocol::wire::{self, Limits};
use tokio::sync::Mutex;
use tokio::time::Instant;

struct Size {
    fleet: Vec<usize>,
    orders_each: usize,
    period: Duration,
    warmup: Duration,
    window: Duration,
    edit_share: f64,
    connections: usize,
    burst_devices: usize,
    burst_orders: usize,
    backends: Vec<Kind>,
}

fn full() -> Size {
    Size {
        fleet: vec![500, 1_000, 2_000, 5_000, 10_000, 20_000],
        orders_each: 3,
        period: Duration::from_secs(30),
        warmup: Duration::from_secs(30),
        window: Duration::from_secs(60),
        edit_share: 0.05,
        connections: 64,
        burst_devices: 200,
        burst_orders: 20,
        backends: vec![Kind::Sqlite, Kind::Postgres],
    }
}

fn smoke() -> Size {
    Size {
        fleet: vec![20],
        orders_each: 3,
        period: Duration::from_secs(3),
        warmup: Duration::from_secs(1),
        window: Duration::from_secs(3),
        edit_share: 0.2,
        connections: 4,
        burst_devices: 5,
        burst_orders: 4,
        backends: vec![Kind::Sqlite],
    }
}

/// The target: p99 of a sync under this.
const P99_TARGET: Duration = Duration::from_millis(200);
/// Stop growing the fleet once p99 is this far gone.
const GIVE_UP_P99: Duration = Duration::from_secs(5);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let is_full = args.iter().any(|a| a == "--bench");
    let parts: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(String::as_str)
        .collect();
    let mut size = if is_full { full() } else { smoke() };
    if let Ok(s) = std::env::var("FLEET_SIZES") {
        size.fleet = s
            .split(',')
            .map(|n| n.trim().parse().expect("FLEET_SIZES"))
            .collect();
    }
    if let Ok(s) = std::env::var("FLEET_WINDOW_SECS") {
        size.window = Duration::from_secs(s.parse().expect("FLEET_WINDOW_SECS"));
    }
    if let Ok(s) = std::env::var("FLEET_WARMUP_SECS") {
        size.warmup = Duration::from_secs(s.parse().expect("FLEET_WARMUP_SECS"));
    }
    // `sqlite` / `postgres` pick backends (the smoke run may name postgres too), `fleet` /
    // `burst` pick parts; unnamed means all.
    let named: Vec<Kind> = [("sqlite", Kind::Sqlite), ("postgres", Kind::Postgres)]
        .into_iter()
        .filter(|(p, _)| parts.contains(p))
        .map(|(_, k)| k)
        .collect();
    if !named.is_empty() {
        size.backends = named;
    }
    let phases_named = parts.contains(&"fleet") || parts.contains(&"burst");
    let fleet = !phases_named || parts.contains(&"fleet");
    let burst = !phases_named || parts.contains(&"burst");

    println!(
        "lastmile: {}\nmachine: {} CPUs, load average {}\n",
        setup::lastmile_bin().display(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut summary = Vec::new();
    for kind in size.backends.clone() {
        summary.push(runtime.block_on(run_backend(kind, &size, fleet, burst, is_full)));
    }
    println!("\n## Summary\n");
    println!(
        "| backend | largest N held (p99 < {} ms, no errors, at every N up to it) | p99 there | \
         burst merges/s (target ≥ 5,000) | burst p99 |",
        P99_TARGET.as_millis()
    );
    println!("|---|---:|---:|---:|---:|");
    for s in &summary {
        println!(
            "| {} | {} | {} | {} | {} |",
            s.kind.name(),
            s.held.map_or("none".into(), |n| fmt_n(n as u64)),
            s.held_p99.map_or("—".into(), ms),
            s.burst
                .as_ref()
                .map_or("—".into(), |b| format!("{:.0}", b.merges_per_s)),
            s.burst.as_ref().map_or("—".into(), |b| ms(b.p99)),
        );
    }
}

struct BackendSummary {
    kind: Kind,
    held: Option<usize>,
    held_p99: Option<Duration>,
    burst: Option<BurstRow>,
}

async fn run_backend(
    kind: Kind,
    size: &Size,
    fleet: bool,
    burst: bool,
    is_full: bool,
) -> BackendSummary {
    println!("## {}\n", kind.name());
    let backend = Backend::new(kind);
    let started = std::time::Instant::now();
    let dispatcher = backend.create_org();
    let max_n = if fleet {
        size.fleet.iter().copied().max().unwrap_or(0)
    } else {
        0
    };
    let rest_n = setup::REST_ENGINEERS.min(max_n);
    let rest: Vec<_> = (0..rest_n)
        .map(|i| {
            let email = format!("eng{i}@fleet.test");
            (backend.create_engineer(&email), email)
        })
        .collect();
    let seeded = setup::seed_engineers(
        &backend,
        dispatcher,
        rest_n,
        max_n - rest_n,
        size.orders_each,
    )
    .await;
    let burst_engineers = if burst {
        setup::seed_engineers(
            &backend,
            dispatcher,
            1_000_000,
            size.burst_devices,
            size.burst_orders,
        )
        .await
    } else {
        Vec::new()
    };
    let server = backend.serve();
    let mut engineers = setup::onboard_over_rest(&server, &rest, size.orders_each).await;
    engineers.extend(seeded);
    let (users, orders) = setup::counts(&backend).await;
    println!(
        "Seeded {} users and {} work orders in {:.1} s ({} engineers through `lastmile admin` \
         and the REST API, the rest through the server library); server pid {}, RSS {} after \
         start.\n",
        fmt_n(users as u64),
        fmt_n(orders as u64),
        started.elapsed().as_secs_f64(),
        rest_n,
        server.pid,
        mib(setup::rss_kib(server.pid).0),
    );

    let mut failed = false;
    let mut summary = BackendSummary {
        kind,
        held: None,
        held_p99: None,
        burst: None,
    };
    if fleet {
        let devices: Arc<Vec<Mutex<SimDevice>>> = Arc::new(
            engineers
                .iter()
                .enumerate()
                .map(|(i, e)| Mutex::new(SimDevice::new(e.user, &e.token, 0x5eed + i as u64)))
                .collect(),
        );
        print_fleet_header();
        let mut online = 0;
        let mut all_met = true;
        for &n in &size.fleet {
            let first = first_syncs(&server, &devices, online..n, size.connections).await;
            online = n;
            let row = run_fleet(&server, &backend, &devices, n, size, first).await;
            row.print();
            // Keep the server log for a missed target too: a stall shows there (slow statements).
            failed |= row.errors > 0 || row.p99 >= P99_TARGET;
            if is_full {
                assert!(
                    first.errors == 0,
                    "first syncs failed: {}",
                    first.first_error
                );
            } else {
                assert_eq!(
                    row.errors, 0,
                    "smoke run: syncs failed: {}",
                    row.first_error
                );
                assert!(row.syncs > 0, "smoke run: no syncs measured");
            }
            // Held: this N and every smaller one met the target.
            let met = row.p99 < P99_TARGET && row.errors == 0;
            all_met &= met;
            if all_met {
                summary.held = Some(n);
                summary.held_p99 = Some(row.p99);
            }
            if row.p99 > GIVE_UP_P99 || row.errors * 100 > row.syncs {
                println!(
                    "\n(stopped growing the fleet: p99 {} and {} errors at N = {})",
                    ms(row.p99),
                    row.errors,
                    fmt_n(n as u64)
                );
                break;
            }
        }
        println!();
    }
    if burst {
        let devices: Vec<SimDevice> = burst_engineers
            .iter()
            .enumerate()
            .map(|(i, e)| SimDevice::new(e.user, &e.token, 0xb0b + i as u64))
            .collect();
        let row = run_burst(&server, &backend, devices, size).await;
        row.print(kind, size);
        failed |= row.errors > 0;
        if !is_full {
            assert_eq!(row.errors, 0, "smoke burst: {}", row.first_error);
            assert_eq!(row.merged, (size.burst_devices * size.burst_orders) as u64);
        }
        summary.burst = Some(row);
    }
    if failed && let Some(log) = setup::keep_log(&backend) {
        println!(
            "Syncs failed or missed the target; the server log is kept at {}.\n",
            log.display()
        );
    }
    let (rss, hwm) = setup::rss_kib(server.pid);
    println!(
        "Server RSS at the end: {} (peak {}). Server log: {} lines.\n",
        mib(rss),
        mib(hwm),
        std::fs::read_to_string(backend.data_dir.path().join("server.log"))
            .map_or(0, |l| l.lines().count())
    );
    drop(server);
    summary
}

// ----- first syncs -----

#[derive(Clone, Copy, Debug, Default)]
struct FirstSyncs {
    devices: usize,
    elapsed: Duration,
    errors: usize,
    first_error: &'static str,
}

/// Bring phones `range` online: their first sync (every order pulled), as fast as the pool goes.
async fn first_syncs(
    server: &Server,
    devices: &Arc<Vec<Mutex<SimDevice>>>,
    range: std::ops::Range<usize>,
    connections: usize,
) -> FirstSyncs {
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(range.start));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let devices = devices.clone();
        let next = next.clone();
        let end = range.end;
        let mut conn = Conn::new(&server.authority);
        set.spawn(async move {
            let limits = Limits::default();
            let mut errors = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    break;
                }
                let mut dev = devices[i].lock().await;
                match device::sync(&mut conn, &mut dev, &limits).await {
                    Ok(_) if dev.documents() > 0 => {}
                    Ok(_) | Err(_) => errors += 1,
                }
            }
            errors
        });
    }
    let mut errors = 0;
    while let Some(r) = set.join_next().await {
        errors += r.expect("first-sync worker");
    }
    FirstSyncs {
        devices: range.len(),
        elapsed: started.elapsed(),
        errors,
        first_error: if errors > 0 {
            "a first sync failed or brought no orders"
        } else {
            ""
        },
    }
}

// ----- the fleet -----

struct Job {
    dev: usize,
    due: Instant,
    edit: bool,
    measured: bool,
}

struct Sample {
    /// Due → response applied.
    latency: Duration,
    /// Request sent → response applied.
    service: Duration,
    edit: bool,
    stats: SyncStats,
}

#[derive(Default)]
struct Outcomes {
    samples: Vec<Sample>,
    errors: usize,
    first_error: String,
}

/// CPU and clock at one instant.
#[derive(Clone, Debug)]
struct Snapshot {
    at: Instant,
    server: u64,
    pg: Vec<(u32, u64)>,
    generator: u64,
    machine: (u64, u64),
}

fn snapshot(server: &Server, backend: &Backend) -> Snapshot {
    Snapshot {
        at: Instant::now(),
        server: setup::cpu_ticks(server.pid).unwrap_or(0),
        pg: backend
            .pg_name
            .as_deref()
            .map(setup::pg_backends)
            .unwrap_or_default(),
        generator: setup::cpu_ticks(std::process::id()).unwrap_or(0),
        machine: setup::machine_ticks(),
    }
}

struct FleetRow {
    n: usize,
    first: FirstSyncs,
    syncs: usize,
    edits: usize,
    rate: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    service_p99: Duration,
    edit_p99: Duration,
    bytes_per_idle: f64,
    server_ms_per_sync: f64,
    pg_ms_per_sync: Option<f64>,
    generator_ms_per_sync: f64,
    machine_busy: f64,
    rss_kib: u64,
    errors: usize,
    first_error: String,
}

fn print_fleet_header() {
    println!(
        "| devices | first syncs (all orders) | syncs measured | syncs/s | edits | p50 | p99 | \
         max | p99 in flight | p99 with an edit | B per idle sync | server CPU/sync | \
         PostgreSQL CPU/sync | generator CPU/sync | machine busy | server RSS | errors | \
         p99 < 200 ms |"
    );
    println!(
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
}

impl FleetRow {
    fn print(&self) {
        println!(
            "| {} | {} in {:.1} s | {} | {:.0} | {} | {} | {} | {} | {} | {} | {:.0} | {:.2} ms | \
             {} | {:.2} ms | {:.0} % | {} | {} | {} |",
            fmt_n(self.n as u64),
            fmt_n(self.first.devices as u64),
            self.first.elapsed.as_secs_f64(),
            fmt_n(self.syncs as u64),
            self.rate,
            fmt_n(self.edits as u64),
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            ms(self.service_p99),
            ms(self.edit_p99),
            self.bytes_per_idle,
            self.server_ms_per_sync,
            self.pg_ms_per_sync
                .map_or("—".into(), |v| format!("{v:.2} ms")),
            self.generator_ms_per_sync,
            self.machine_busy * 100.0,
            mib(self.rss_kib),
            self.errors,
            if self.p99 < P99_TARGET && self.errors == 0 {
                "pass"
            } else {
                "**FAIL**"
            },
        );
        if !self.first_error.is_empty() {
            println!("<!-- first error: {} -->", self.first_error);
        }
    }
}

/// N phones on their 30 s schedule for a warm-up and a measured window.
async fn run_fleet(
    server: &Server,
    backend: &Backend,
    devices: &Arc<Vec<Mutex<SimDevice>>>,
    n: usize,
    size: &Size,
    first: FirstSyncs,
) -> FleetRow {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    let outcomes = Arc::new(std::sync::Mutex::new(Outcomes::default()));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..size.connections {
        let rx = rx.clone();
        let devices = devices.clone();
        let outcomes = outcomes.clone();
        let mut conn = Conn::new(&server.authority);
        workers.spawn(async move {
            let limits = Limits::default();
            loop {
                let job = rx.lock().await.recv().await;
                let Some(job) = job else { break };
                let started = Instant::now();
                let result = if started - job.due > device::REQUEST_TIMEOUT {
                    Err("dropped: queued longer than the request timeout".to_owned())
                } else {
                    let mut dev = devices[job.dev].lock().await;
                    match job.edit.then(|| dev.edit_one()).transpose() {
                        Err(e) => Err(format!("edit: {e}")),
                        Ok(_) => device::sync(&mut conn, &mut dev, &limits).await,
                    }
                };
                let done = Instant::now();
                if !job.measured {
                    continue;
                }
                let mut o = outcomes.lock().expect("outcomes");
                match result {
                    Ok(stats) if stats.rejected == 0 => o.samples.push(Sample {
                        latency: done - job.due,
                        service: done - started,
                        edit: job.edit,
                        stats,
                    }),
                    Ok(stats) => {
                        o.errors += 1;
                        if o.first_error.is_empty() {
                            o.first_error = format!("{} pushes or edits refused", stats.rejected);
                        }
                    }
                    Err(e) => {
                        o.errors += 1;
                        if o.first_error.is_empty() {
                            o.first_error = e;
                        }
                    }
                }
            }
        });
    }

    // Covers the warm-up too (same load); started first because perf takes a moment to attach.
    let profile = setup::Profile::start(server, &format!("{}-fleet-{n}", backend.kind.name()));
    let t0 = Instant::now() + Duration::from_millis(100);
    let measure_from = t0 + size.warmup;
    let end = measure_from + size.window;
    let mut rng = Rng(0x000f_1ee7 ^ n as u64);
    let mut start_snap = None;
    'schedule: for k in 0u32.. {
        for i in 0..n {
            let due = t0 + size.period * k + size.period.mul_f64(i as f64 / n as f64);
            if due >= end {
                break 'schedule;
            }
            tokio::time::sleep_until(due).await;
            let measured = due >= measure_from;
            if measured && start_snap.is_none() {
                start_snap = Some(snapshot(server, backend));
            }
            let edit = rng.chance(size.edit_share);
            tx.send(Job {
                dev: i,
                due,
                edit,
                measured,
            })
            .expect("workers alive");
        }
    }
    tokio::time::sleep_until(end).await;
    drop(tx);
    while let Some(r) = workers.join_next().await {
        r.expect("fleet worker");
    }
    let end_snap = snapshot(server, backend);
    drop(profile);
    let start_snap = start_snap.unwrap_or_else(|| end_snap.clone());

    let o = std::mem::take(&mut *outcomes.lock().expect("outcomes"));
    let mut latency: Vec<Duration> = o.samples.iter().map(|s| s.latency).collect();
    let mut service: Vec<Duration> = o.samples.iter().map(|s| s.service).collect();
    let mut edits: Vec<Duration> = o
        .samples
        .iter()
        .filter(|s| s.edit)
        .map(|s| s.latency)
        .collect();
    let idle: Vec<&Sample> = o
        .samples
        .iter()
        .filter(|s| !s.edit && s.stats.merged == 0)
        .collect();
    let syncs = o.samples.len() + o.errors;
    let tck = setup::clk_tck();
    let per_sync = |ticks: u64| ticks as f64 / tck * 1e3 / syncs.max(1) as f64;
    let (busy0, total0) = start_snap.machine;
    let (busy1, total1) = end_snap.machine;
    FleetRow {
        n,
        first,
        syncs,
        edits: edits.len(),
        rate: syncs as f64 / size.window.as_secs_f64(),
        p50: percentile(&mut latency, 0.50),
        p99: percentile(&mut latency, 0.99),
        max: percentile(&mut latency, 1.0),
        service_p99: percentile(&mut service, 0.99),
        edit_p99: percentile(&mut edits, 0.99),
        bytes_per_idle: idle
            .iter()
            .map(|s| (s.stats.bytes_up + s.stats.bytes_down) as f64)
            .sum::<f64>()
            / idle.len().max(1) as f64,
        server_ms_per_sync: per_sync(end_snap.server - start_snap.server),
        pg_ms_per_sync: backend
            .pg_name
            .as_ref()
            .map(|_| per_sync(setup::pg_ticks_between(&start_snap.pg, &end_snap.pg))),
        generator_ms_per_sync: per_sync(end_snap.generator - start_snap.generator),
        machine_busy: (busy1 - busy0) as f64 / (total1 - total0).max(1) as f64,
        rss_kib: setup::rss_kib(server.pid).0,
        errors: o.errors,
        first_error: o.first_error,
    }
}

// ----- the end-of-day burst -----

struct BurstRow {
    devices: usize,
    pushed: u64,
    merged: u64,
    wall: Duration,
    merges_per_s: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    bytes_up: u64,
    server_cpu_s: f64,
    pg_cpu_s: Option<f64>,
    machine_busy: f64,
    follow_up_rounds: u32,
    errors: usize,
    first_error: String,
}

impl BurstRow {
    fn print(&self, kind: Kind, size: &Size) {
        println!(
            "End-of-day burst: {} phones x {} orders, each order visited, checked in, a parts \
             line, notes, completed (5 changes), all pushed at once, one connection per phone.\n",
            self.devices, size.burst_orders
        );
        println!(
            "| backend | documents pushed | merged | wall time | merges/s | request p50 | \
             request p99 | max | bytes up | server CPU | PostgreSQL CPU | machine busy | \
             follow-up rounds | errors |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        println!(
            "| {} | {} | {} | {:.2} s | {:.0} | {} | {} | {} | {} | {:.2} s | {} | {:.0} % | {} | {} |",
            kind.name(),
            fmt_n(self.pushed),
            fmt_n(self.merged),
            self.wall.as_secs_f64(),
            self.merges_per_s,
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            kb(self.bytes_up),
            self.server_cpu_s,
            self.pg_cpu_s.map_or("—".into(), |v| format!("{v:.2} s")),
            self.machine_busy * 100.0,
            self.follow_up_rounds,
            self.errors,
        );
        if !self.first_error.is_empty() {
            println!("<!-- first error: {} -->", self.first_error);
        }
        println!();
    }
}

async fn run_burst(
    server: &Server,
    backend: &Backend,
    devices: Vec<SimDevice>,
    size: &Size,
) -> BurstRow {
    let limits = Limits::default();
    let n = devices.len();
    let devices: Arc<Vec<Mutex<SimDevice>>> =
        Arc::new(devices.into_iter().map(Mutex::new).collect());
    let first = first_syncs(server, &devices, 0..n, size.connections.min(n)).await;
    assert_eq!(first.errors, 0, "burst phones' first syncs failed");

    // The day's work, offline, and the requests, before the clock starts.
    let mut prepared = Vec::with_capacity(n);
    for d in devices.iter() {
        let mut dev = d.lock().await;
        dev.finish_day().expect("a day's edits");
        let req = dev.build_request(&limits);
        let body = wire::encode_request(&req).expect("encode");
        let mut conn = Conn::new(&server.authority);
        conn.connect().await.expect("connect");
        prepared.push((req, body, conn, dev.auth.clone()));
    }
    let pushed: u64 = prepared.iter().map(|p| p.0.pushes.len() as u64).sum();
    let bytes_up: u64 = prepared.iter().map(|p| p.1.len() as u64).sum();

    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let mut set = tokio::task::JoinSet::new();
    for (i, (req, body, mut conn, auth)) in prepared.into_iter().enumerate() {
        let gate = gate.clone();
        set.spawn(async move {
            gate.acquire().await.expect("gate").forget();
            let sent = Instant::now();
            let result = device::post_sync(&mut conn, &auth, body).await;
            (i, req, result, sent, Instant::now())
        });
    }
    let profile = setup::Profile::start(server, &format!("{}-burst", backend.kind.name()));
    let before = snapshot(server, backend);
    gate.add_permits(n);
    let mut answers = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        answers.push(r.expect("burst task"));
    }
    let after = snapshot(server, backend);
    drop(profile);
    let wall = answers
        .iter()
        .map(|a| a.4)
        .max()
        .map_or(Duration::ZERO, |last| last - before.at);

    // Apply the answers (untimed), as the phones would.
    let mut latencies = Vec::with_capacity(n);
    let mut merged = 0;
    let mut errors = 0;
    let mut first_error = String::new();
    let note = |e: String, first_error: &mut String| {
        if first_error.is_empty() {
            *first_error = e;
        }
    };
    for (i, req, result, sent, done) in answers {
        latencies.push(done - sent);
        let mut dev = devices[i].lock().await;
        let mut stats = SyncStats::default();
        match result.and_then(|bytes| {
            dev.apply_response(&req, &bytes, &limits, &mut stats)
                .map_err(|e| e.to_string())
        }) {
            Ok(_) if stats.rejected == 0 => merged += stats.merged,
            Ok(_) => {
                errors += 1;
                note(format!("{} refused", stats.rejected), &mut first_error);
            }
            Err(e) => {
                errors += 1;
                note(e, &mut first_error);
            }
        }
    }
    // Whatever is still pending (nothing, if every push was merged) goes in follow-up syncs.
    let mut follow_up_rounds = 0;
    let mut conn = Conn::new(&server.authority);
    for d in devices.iter() {
        let mut dev = d.lock().await;
        if dev.pending() > 0 {
            match device::sync(&mut conn, &mut dev, &limits).await {
                Ok(s) => follow_up_rounds += s.rounds,
                Err(e) => {
                    errors += 1;
                    note(e, &mut first_error);
                }
            }
        }
    }
    let tck = setup::clk_tck();
    let (busy0, total0) = before.machine;
    let (busy1, total1) = after.machine;
    BurstRow {
        devices: n,
        pushed,
        merged,
        wall,
        merges_per_s: merged as f64 / wall.as_secs_f64().max(1e-9),
        p50: percentile(&mut latencies, 0.50),
        p99: percentile(&mut latencies, 0.99),
        max: percentile(&mut latencies, 1.0),
        bytes_up,
        server_cpu_s: (after.server - before.server) as f64 / tck,
        pg_cpu_s: backend
            .pg_name
            .as_ref()
            .map(|_| setup::pg_ticks_between(&before.pg, &after.pg) as f64 / tck),
        machine_busy: (busy1 - busy0) as f64 / (total1 - total0).max(1) as f64,
        follow_up_rounds,
        errors,
        first_error,
    }
}

// ----- formatting -----

/// Nearest-rank percentile (`p` in 0..=1); zero for no samples.
fn percentile(v: &mut [Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort_unstable();
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1e3;
    if v >= 100.0 {
        format!("{v:.0} ms")
    } else {
        format!("{v:.1} ms")
    }
}

fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

fn kb(bytes: u64) -> String {
    format!("{:.1} KB", bytes as f64 / 1000.0)
}

fn fmt_n(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
