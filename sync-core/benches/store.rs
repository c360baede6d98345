//! Device store benchmark: a phone holding 5,000 work orders with realistic histories.
//!
//! `cargo bench -p sync-core --bench store` runs the full size and prints a markdown table
//! (copied into `docs/benchmarks.md`). Under `cargo test --benches` (no `--bench` argument) it
//! runs a smoke size, so CI only checks that it works.
//!
//! Measured, each as median and p95 over many runs:
//! - cold open: `Store::open` on the file (new connections, schema check, actor id, query-row
//!   probe). The OS page cache is warm: this is an app start, not a reboot.
//! - list by status: `ListQuery { status: [on_site], limit: 50 }` on the query table.
//! - open one order: `load` + `read()`, what a detail screen does.
//! - one edit persisted: `Store::edit` adding one consumption line (`synchronous=FULL`: it
//!   includes the fsync of the commit).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};
use sync_core::workorder::{FormValue, NewConsumption};
use sync_core::{
    ActorId, ContentHash, DocId, ListQuery, OrgId, Role, Status, Store, UserId, WorkOrderDoc,
};

struct Size {
    orders: u32,
    /// Orders per write transaction while building the fixture.
    batch: usize,
    opens: usize,
    samples: usize,
}

const FULL: Size = Size {
    orders: 5_000,
    batch: 250,
    opens: 30,
    samples: 300,
};
const SMOKE: Size = Size {
    orders: 40,
    batch: 10,
    opens: 2,
    samples: 5,
};

/// xorshift64*: picks orders at random, reproducibly.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

/// A clock for edit contexts: one second per action.
struct Clock(i64);

impl Clock {
    fn ctx(&mut self, user: UserId, role: Role) -> sync_core::EditContext {
        self.0 += 1000;
        common::ctx(user, role, self.0)
    }
}

/// One order as a device holds it after a day's work: created, assigned and scheduled in the
/// office (one actor), then worked on the phone (the device's actor): en route, visit, check-in,
/// template, parts, answers, notes typed in three goes, a photo, codes, signature, check-out and
/// a final status that varies by order. Every action is its own Automerge change, as in the app
/// (one `Store::edit` per user action): 18 to 26 changes per order.
fn order_with_history(
    n: u32,
    org: OrgId,
    office_actor: &ActorId,
    device_actor: &ActorId,
    dispatcher: UserId,
    engineer: UserId,
    clock: &mut Clock,
) -> sync_core::Result<WorkOrderDoc> {
    let new = common::new_order(org, n);
    let office = |clock: &mut Clock| clock.ctx(dispatcher, Role::Dispatcher);
    let mut doc = WorkOrderDoc::create(office_actor, &new, &office(clock))?;
    // `heads()` commits the pending operations: one change per action.
    doc.heads();
    doc.assign(&office(clock), Some(engineer))?;
    doc.heads();
    let start = 1_800_000_000_000 + i64::from(n) * 3_600_000;
    doc.schedule(&office(clock), start, start + 7_200_000)?;
    doc.heads();
    doc.set_status(&office(clock), Status::Assigned)?;
    doc.heads();

    // The phone received it: its own actor from here on.
    let mut doc = WorkOrderDoc::load(&doc.save(), device_actor)?;
    let variant = n % 4;
    let step =
        |doc: &mut WorkOrderDoc,
         clock: &mut Clock,
         f: &mut dyn FnMut(&mut WorkOrderDoc, &sync_core::EditContext) -> sync_core::Result<()>|
         -> sync_core::Result<()> {
            let c = clock.ctx(engineer, Role::Engineer);
            f(doc, &c)?;
            doc.heads();
            Ok(())
        };
    step(&mut doc, clock, &mut |d, c| {
        d.set_status(c, Status::EnRoute)
    })?;
    let mut visit = None;
    step(&mut doc, clock, &mut |d, c| {
        visit = Some(d.start_visit(c)?);
        Ok(())
    })?;
    let v = visit.expect("visit started");
    step(&mut doc, clock, &mut |d, c| {
        d.check_in(c, &v, None, Some(35.0), false)
    })?;
    step(&mut doc, clock, &mut |d, c| {
        d.set_report_template(c, &v, "chiller-service", 3)
    })?;
    for (i, sku) in ["FILTER-20", "BELT-A42", "FUSE-10A"].iter().enumerate() {
        step(&mut doc, clock, &mut |d, c| {
            d.consume_part(
                c,
                &v,
                &NewConsumption {
                    sku: (*sku).into(),
                    qty: 1 + i as i64,
                    serial: (i == 0).then(|| format!("S-{n}-{i}")),
                    replaced_serial: None,
                },
            )
            .map(|_| ())
        })?;
    }
    step(&mut doc, clock, &mut |d, c| {
        d.set_answer(c, &v, "suction_pressure_bar", &FormValue::Number(4.2))
    })?;
    step(&mut doc, clock, &mut |d, c| {
        d.set_answer(c, &v, "refrigerant", &FormValue::Choice("R410A".into()))
    })?;
    let notes = [
        "Compressor trips after 10 min.",
        "Compressor trips after 10 min. Condenser coil clogged, cleaned.",
        "Compressor trips after 10 min. Condenser coil clogged, cleaned. Replaced filter and \
         belt; ran 30 min without a trip.",
    ];
    step(&mut doc, clock, &mut |d, c| d.set_notes(c, &v, notes[0]))?;
    step(&mut doc, clock, &mut |d, c| {
        d.set_answer(c, &v, "leak_test_passed", &FormValue::Bool(true))
    })?;
    step(&mut doc, clock, &mut |d, c| d.set_notes(c, &v, notes[1]))?;
    if variant == 2 {
        step(&mut doc, clock, &mut |d, c| {
            d.set_status(c, Status::NeedsParts)
        })?;
        step(&mut doc, clock, &mut |d, c| {
            d.request_parts(c, "COMP-X200", 1, "compressor for next visit")
                .map(|_| ())
        })?;
        return Ok(doc);
    }
    step(&mut doc, clock, &mut |d, c| {
        d.add_photo(
            c,
            &v,
            ContentHash::of(&n.to_be_bytes()),
            "coil before cleaning",
        )
        .map(|_| ())
    })?;
    step(&mut doc, clock, &mut |d, c| {
        d.set_answer(c, &v, "runtime_min", &FormValue::Integer(30))
    })?;
    step(&mut doc, clock, &mut |d, c| {
        d.set_fault_code(c, &v, "COND-DIRTY")
    })?;
    step(&mut doc, clock, &mut |d, c| d.set_notes(c, &v, notes[2]))?;
    step(&mut doc, clock, &mut |d, c| {
        d.set_resolution_code(c, &v, "CLEANED")
    })?;
    if variant == 1 {
        return Ok(doc); // still on site
    }
    step(&mut doc, clock, &mut |d, c| {
        d.sign(c, &v, ContentHash::of(b"signature"), "J. Chan")
    })?;
    step(&mut doc, clock, &mut |d, c| {
        d.check_out(c, &v, None, Some(40.0), false)
    })?;
    step(&mut doc, clock, &mut |d, c| {
        d.set_status(c, Status::Completed)
    })?;
    if variant == 3 {
        // Closed in the office; the phone got that change in a sync.
        let c = clock.ctx(dispatcher, Role::Dispatcher);
        doc.set_status(&c, Status::Closed)?;
        doc.heads();
    }
    Ok(doc)
}

struct Stats {
    n: usize,
    median: Duration,
    p95: Duration,
}

fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort();
    let n = v.len();
    let p95 = ((n * 95).div_ceil(100)).max(1) - 1;
    Stats {
        n,
        median: v[n / 2],
        p95: v[p95],
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// The machine's load when the run started (Linux): fsync-bound figures move with it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let load = load_average();
    let full = std::env::args().any(|a| a == "--bench");
    let size = if full { FULL } else { SMOKE };
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("device.db");

    // ----- fixture -----
    let built = Instant::now();
    let store = Store::open(&path)?;
    let org = OrgId::new();
    let office_actor = ActorId::random();
    let (dispatcher, engineer) = (UserId::new(), UserId::new());
    let mut clock = Clock(1_790_000_000_000);
    let mut ids: Vec<DocId> = Vec::with_capacity(size.orders as usize);
    let mut changes = 0usize;
    let mut snapshot_bytes = 0usize;
    let numbers: Vec<u32> = (0..size.orders).collect();
    let (mut t_docs, mut t_persist) = (Duration::ZERO, Duration::ZERO);
    for batch in numbers.chunks(size.batch) {
        let t = Instant::now();
        let mut docs = batch
            .iter()
            .map(|&n| {
                order_with_history(
                    n,
                    org,
                    &office_actor,
                    store.actor(),
                    dispatcher,
                    engineer,
                    &mut clock,
                )
            })
            .collect::<sync_core::Result<Vec<_>>>()?;
        for d in &mut docs {
            let saved = d.save();
            changes += automerge::AutoCommit::load(&saved)?.get_changes(&[]).len();
            snapshot_bytes += saved.len();
            ids.push(d.id()?);
        }
        t_docs += t.elapsed();
        let t = Instant::now();
        // One write transaction per batch: the fixture takes seconds, not minutes of fsyncs.
        store.write(|tx| {
            for d in &mut docs {
                tx.persist(d, false)?;
            }
            Ok(())
        })?;
        t_persist += t.elapsed();
    }
    drop(store);
    let build_time = built.elapsed();
    let file_bytes = std::fs::metadata(&path)?.len();

    // ----- cold open -----
    let mut opens = Vec::new();
    for _ in 0..size.opens {
        let t = Instant::now();
        let s = Store::open(&path)?;
        opens.push(t.elapsed());
        drop(s);
    }
    let store = Store::open(&path)?;

    // ----- list by status -----
    let q = ListQuery {
        status: Some(vec![Status::OnSite]),
        limit: 50,
        ..ListQuery::default()
    };
    let mut lists = Vec::new();
    let mut listed = 0;
    for _ in 0..size.samples {
        let t = Instant::now();
        listed = store.list(&q)?.len();
        lists.push(t.elapsed());
    }

    // ----- open one order -----
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut loads = Vec::new();
    for _ in 0..size.samples {
        let id = ids[rng.below(ids.len())];
        let t = Instant::now();
        let order = store.load(&id)?.read()?;
        loads.push(t.elapsed());
        assert_eq!(order.id, id);
    }

    // ----- one edit persisted -----
    let mut edits = Vec::new();
    for i in 0..size.samples {
        let id = ids[rng.below(ids.len())];
        let c = clock.ctx(engineer, Role::Engineer);
        let t = Instant::now();
        store.edit(&id, |d| {
            let v = d.visit_ids()[0];
            d.consume_part(
                &c,
                &v,
                &NewConsumption {
                    sku: "GASKET-7".into(),
                    qty: 1 + (i % 3) as i64,
                    serial: None,
                    replaced_serial: None,
                },
            )
        })?;
        edits.push(t.elapsed());
    }

    // ----- where an edit's time goes -----
    // The same steps as `Store::edit`, timed one by one inside one write transaction; what
    // remains of the total is the commit (with its fsync).
    let (mut t_load, mut t_change, mut t_persist_edit) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..size.samples {
        let id = ids[rng.below(ids.len())];
        let c = clock.ctx(engineer, Role::Engineer);
        store.write(|tx| {
            let t = Instant::now();
            let mut doc = tx.load(&id)?;
            t_load.push(t.elapsed());
            let t = Instant::now();
            let v = doc.visit_ids()[0];
            doc.consume_part(
                &c,
                &v,
                &NewConsumption {
                    sku: "GASKET-7".into(),
                    qty: 1 + (i % 3) as i64,
                    serial: None,
                    replaced_serial: None,
                },
            )?;
            t_change.push(t.elapsed());
            let t = Instant::now();
            tx.persist(&mut doc, true)?;
            t_persist_edit.push(t.elapsed());
            Ok(())
        })?;
    }
    // A write transaction that changes one meta row: the cost of a durable commit alone.
    let mut commits = Vec::new();
    for i in 0..size.samples {
        let t = Instant::now();
        store.write(|tx| tx.set_meta("bench.tick", &(i as u64).to_be_bytes()))?;
        commits.push(t.elapsed());
    }

    // ----- report -----
    let rows: [(&str, Stats, Option<Duration>); 8] = [
        (
            "cold open (`Store::open`)",
            stats(opens),
            Some(Duration::from_millis(100)),
        ),
        (
            "list by status, limit 50",
            stats(lists),
            Some(Duration::from_millis(5)),
        ),
        ("open one order (`load` + `read`)", stats(loads), None),
        (
            "one edit persisted (`Store::edit`, 1 part)",
            stats(edits),
            Some(Duration::from_millis(5)),
        ),
        ("… of which `tx.load`", stats(t_load), None),
        (
            "… of which the change (`consume_part`)",
            stats(t_change),
            None,
        ),
        (
            "… of which `tx.persist` (chunk, query row, FTS)",
            stats(t_persist_edit),
            None,
        ),
        (
            "durable commit alone (1 meta row, fsync)",
            stats(commits),
            None,
        ),
    ];
    println!();
    if !full {
        println!(
            "_Smoke run ({} orders): pass `--bench` for the real figures._\n",
            size.orders
        );
    }
    println!(
        "Device store: {} orders, {:.1} changes and {} B saved per order on average; \
         {:.1} MB file; fixture built in {:.1} s ({:.1} s building documents in memory, \
         {:.1} s persisting). Load average at start: {load}.\n",
        size.orders,
        changes as f64 / f64::from(size.orders),
        snapshot_bytes / size.orders as usize,
        file_bytes as f64 / 1e6,
        build_time.as_secs_f64(),
        t_docs.as_secs_f64(),
        t_persist.as_secs_f64(),
    );
    println!("| operation | runs | median | p95 | target (p95) | result |");
    println!("|---|---:|---:|---:|---:|---|");
    for (name, s, target) in &rows {
        let (t, verdict) = match target {
            Some(t) if !full => (format!("≤ {}", ms(*t)), "not judged (smoke)"),
            Some(t) if s.p95 <= *t => (format!("≤ {}", ms(*t)), "pass"),
            Some(t) => (format!("≤ {}", ms(*t)), "**FAIL**"),
            None => ("—".to_owned(), "—"),
        };
        println!(
            "| {name} | {} | {} | {} | {t} | {verdict} |",
            s.n,
            ms(s.median),
            ms(s.p95)
        );
    }
    println!("\nThe status filter matched {listed} rows (limit 50).");
    Ok(())
}
