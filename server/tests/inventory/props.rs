//! Property test: random sequences of movements (receipts, issues, transfers, returns,
//! adjustments, reservations, consumption lines synced from phones, voids, replays of the same
//! synced lines, and pairs of these run concurrently) against a model. After every sequence:
//! every checked operation succeeded exactly when the model said the stock was there, the
//! balances equal the model, `inventory check` finds the balances equal to the ledger, and no
//! line was posted twice.
//!
//! Cases: `LASTMILE_INVENTORY_PROPTEST_CASES` (default 24 per backend; each case is tens of
//! database transactions, so the workspace-wide `PROPTEST_CASES` is not used here).

use crate::common::{TestApp, TestDb};
use lastmile_server::accounts::{self, EngineerProfile, NewUser};
use lastmile_server::inventory::catalog::{self, NewPart};
use lastmile_server::inventory::ledger::Writer;
use lastmile_server::inventory::locations::{self, LocationKind, NewLocation};
use lastmile_server::inventory::operations::{
    self, AdjustLine, Adjustment, Issue, LineIn, Receipt, Return, Transfer,
};
use lastmile_server::inventory::reservations::{self, NewReservation};
use lastmile_server::inventory::{Actor, Condition, InvError, check};
use lastmile_server::{AppState, docstore};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use sync_core::workorder::{Asset, Customer, NewConsumption, NewWorkOrder, Priority, Site};
use sync_core::{DocId, LineId, OrgId, Role, UserId, VisitId, WorkOrderDoc};

const PARTS: [&str; 3] = ["P-A", "P-B", "P-C"];
/// A SKU the catalog does not have (lines held, never posted).
const UNKNOWN: &str = "P-UNKNOWN";
const ENGINEERS: usize = 2;

#[derive(Clone, Debug)]
enum Op {
    Receive {
        part: usize,
        qty: i64,
    },
    Issue {
        part: usize,
        eng: usize,
        qty: i64,
    },
    Transfer {
        part: usize,
        from: usize,
        to: usize,
        qty: i64,
    },
    Return {
        part: usize,
        eng: usize,
        qty: i64,
    },
    Adjust {
        part: usize,
        at: Option<usize>,
        delta: i64,
    },
    Reserve {
        part: usize,
        qty: i64,
    },
    ReleaseAll,
    Consume {
        part: usize,
        eng: usize,
        qty: i64,
    },
    Void {
        pick: usize,
    },
    Replay,
    Concurrent(Box<Op>, Box<Op>),
}

fn simple_op() -> impl Strategy<Value = Op> {
    let part = 0..PARTS.len();
    let eng = 0..ENGINEERS;
    prop_oneof![
        3 => (part.clone(), 1..20i64).prop_map(|(part, qty)| Op::Receive { part, qty }),
        4 => (part.clone(), eng.clone(), 1..12i64).prop_map(|(part, eng, qty)| Op::Issue { part, eng, qty }),
        1 => (part.clone(), eng.clone(), eng.clone(), 1..6i64)
            .prop_map(|(part, from, to, qty)| Op::Transfer { part, from, to, qty }),
        1 => (part.clone(), eng.clone(), 1..6i64).prop_map(|(part, eng, qty)| Op::Return { part, eng, qty }),
        1 => (part.clone(), proptest::option::of(eng.clone()), -8..8i64)
            .prop_filter("a delta", |(_, _, d)| *d != 0)
            .prop_map(|(part, at, delta)| Op::Adjust { part, at, delta }),
        2 => (part, 1..10i64).prop_map(|(part, qty)| Op::Reserve { part, qty }),
        1 => Just(Op::ReleaseAll),
        // part == PARTS.len(): the unknown SKU.
        5 => (0..=PARTS.len(), eng, 1..6i64).prop_map(|(part, eng, qty)| Op::Consume { part, eng, qty }),
        2 => any::<usize>().prop_map(|pick| Op::Void { pick }),
        2 => Just(Op::Replay),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => simple_op(),
        1 => (simple_op(), simple_op()).prop_map(|(a, b)| Op::Concurrent(Box::new(a), Box::new(b))),
    ]
}

/// Stock as the model sees it: (good, reserved) per (location, part); location 0 is the
/// warehouse, 1 + e the van of engineer e.
#[derive(Default, Debug)]
struct Model {
    stock: HashMap<(usize, usize), (i64, i64)>,
    /// Lines synced: (engineer, part index or unknown, qty, voided).
    lines: Vec<(usize, usize, i64, bool)>,
    line_ids: Vec<(LineId, VisitId)>,
}

impl Model {
    fn get(&self, loc: usize, part: usize) -> (i64, i64) {
        self.stock.get(&(loc, part)).copied().unwrap_or_default()
    }

    fn add(&mut self, loc: usize, part: usize, qty: i64) {
        self.stock.entry((loc, part)).or_default().0 += qty;
    }

    fn available(&self, loc: usize, part: usize) -> i64 {
        let (q, r) = self.get(loc, part);
        q - r
    }
}

/// One organisation per case.
struct World {
    org: OrgId,
    warehouse_user: UserId,
    engineers: Vec<UserId>,
    orders: Vec<DocId>,
    visits: Vec<Option<VisitId>>,
    vans: Vec<String>,
    wh: String,
}

static CASE: AtomicUsize = AtomicUsize::new(0);

async fn world(state: &AppState) -> World {
    let n = CASE.fetch_add(1, Ordering::Relaxed);
    let org = accounts::create_org(&state.db, &format!("Prop {n} {}", uuid::Uuid::new_v4()))
        .await
        .unwrap();
    let mut conn = state.db.pool().acquire().await.unwrap();
    let user = |name: String, role: Role| NewUser {
        org,
        email: format!("{name}@prop.test"),
        name,
        role,
        password_hash: "x".into(),
        customer_id: None,
        team: None,
        territory: None,
    };
    let warehouse_user = accounts::create_user(&mut conn, &user("stores".into(), Role::Warehouse))
        .await
        .unwrap();
    let mut engineers = Vec::new();
    for e in 0..ENGINEERS {
        let id = accounts::create_user(&mut conn, &user(format!("eng{e}"), Role::Engineer))
            .await
            .unwrap();
        accounts::put_engineer_profile(&mut conn, org, id, &EngineerProfile::default())
            .await
            .unwrap();
        engineers.push(id);
    }
    drop(conn);
    let mut tx = state.db.begin().await.unwrap();
    let seq = docstore::begin_write(&mut tx).await.unwrap();
    let office = state.docs.edit_context(warehouse_user, Role::Admin);
    let mut orders = Vec::new();
    for (e, eng) in engineers.iter().enumerate() {
        let new = NewWorkOrder {
            id: DocId::new(),
            org,
            number: docstore::next_order_number(&mut tx, org).await.unwrap(),
            customer: Customer {
                id: format!("C-{e}"),
                name: "Customer".into(),
            },
            site: Site {
                address: "1 Road".into(),
                lat: 31.2,
                lon: 121.4,
            },
            asset: Asset::default(),
            problem: "Broken".into(),
            priority: Priority::Normal,
            sla_due_ms: None,
        };
        let mut doc = WorkOrderDoc::create(state.docs.actor(), &new, &office).unwrap();
        doc.assign(&office, Some(*eng)).unwrap();
        docstore::save(&mut tx, org, &mut doc, seq).await.unwrap();
        orders.push(new.id);
    }
    for sku in PARTS {
        catalog::create(
            &mut tx,
            org,
            seq,
            &NewPart {
                sku: sku.into(),
                name: sku.into(),
                unit: "pcs".into(),
                unit_cost_minor: 100,
                ..NewPart::default()
            },
        )
        .await
        .unwrap();
    }
    let wh = locations::create(
        &mut tx,
        org,
        &NewLocation {
            code: "WH".into(),
            name: "Warehouse".into(),
            kind: LocationKind::Warehouse,
            engineer_id: None,
        },
    )
    .await
    .unwrap();
    let mut vans = Vec::new();
    for eng in &engineers {
        vans.push(
            locations::ensure_van(&mut tx, org, *eng)
                .await
                .unwrap()
                .unwrap()
                .id,
        );
    }
    tx.commit().await.unwrap();
    World {
        org,
        warehouse_user,
        visits: vec![None; engineers.len()],
        engineers,
        orders,
        vans,
        wh: wh.id,
    }
}

fn lines(part: usize, qty: i64) -> Vec<LineIn> {
    vec![LineIn {
        sku: PARTS[part].into(),
        qty,
        unit: None,
        serials: Vec::new(),
    }]
}

/// Run a stock operation in its own transaction: Ok(true) committed, Ok(false) refused for
/// lack of stock (rolled back).
async fn stock_op(state: &AppState, w: &World, op: &Op) -> bool {
    let mut tx = state.db.begin().await.unwrap();
    let mut writer = Writer::begin(
        &mut tx,
        w.org,
        Actor::user(w.warehouse_user, Role::Warehouse),
    )
    .await
    .unwrap();
    let result = match op {
        Op::Receive { part, qty } => operations::receive(
            &mut tx,
            &mut writer,
            &Receipt {
                location: Some("WH".into()),
                supplier: "S".into(),
                lines: lines(*part, *qty),
                ..Receipt::default()
            },
        )
        .await
        .map(|_| ()),
        Op::Issue { part, eng, qty } => operations::issue(
            &mut tx,
            &mut writer,
            &Issue {
                from: Some("WH".into()),
                to: Some(w.vans[*eng].clone()),
                lines: lines(*part, *qty),
                ..Issue::default()
            },
        )
        .await
        .map(|_| ()),
        Op::Transfer {
            part,
            from,
            to,
            qty,
        } => operations::transfer(
            &mut tx,
            &mut writer,
            &Transfer {
                from: w.vans[*from].clone(),
                to: w.vans[*to].clone(),
                note: String::new(),
                lines: lines(*part, *qty),
            },
        )
        .await
        .map(|_| ()),
        Op::Return { part, eng, qty } => operations::take_return(
            &mut tx,
            &mut writer,
            &Return {
                from: Some(w.vans[*eng].clone()),
                engineer_id: None,
                condition: Condition::Good,
                to: Some("WH".into()),
                work_order_id: None,
                note: String::new(),
                lines: lines(*part, *qty),
            },
        )
        .await
        .map(|_| ()),
        Op::Adjust { part, at, delta } => operations::adjust(
            &mut tx,
            &mut writer,
            &Adjustment {
                location: at.map_or_else(|| "WH".to_owned(), |e| w.vans[e].clone()),
                reason: "count".into(),
                note: String::new(),
                lines: vec![AdjustLine {
                    sku: PARTS[*part].into(),
                    delta: Some(*delta),
                    ..AdjustLine::default()
                }],
            },
        )
        .await
        .map(|_| ()),
        Op::Reserve { part, qty } => reservations::create(
            &mut tx,
            &mut writer,
            &NewReservation {
                work_order_id: w.orders[0].to_string(),
                location: "WH".into(),
                sku: PARTS[*part].into(),
                qty: *qty,
                expires_at_ms: None,
            },
        )
        .await
        .map(|_| ()),
        Op::ReleaseAll => {
            let active = reservations::list(&mut tx, w.org, &Default::default())
                .await
                .unwrap();
            for r in active {
                reservations::release(&mut tx, &mut writer, &r.id, "test")
                    .await
                    .unwrap();
            }
            Ok(())
        }
        _ => unreachable!("not a stock operation"),
    };
    match result {
        Ok(()) => {
            tx.commit().await.unwrap();
            true
        }
        Err(InvError::InsufficientStock { .. }) => false,
        Err(InvError::WrongLocation(_)) if matches!(op, Op::Transfer { from, to, .. } if from == to) => {
            false
        }
        Err(e) => panic!("{op:?} failed: {e}"),
    }
}

/// What a synced document change does on the server: load, edit as the engineer, save, post.
async fn sync_edit(
    state: &AppState,
    w: &mut World,
    eng: usize,
    edit: impl FnOnce(
        &mut WorkOrderDoc,
        &sync_core::EditContext,
        &mut Option<VisitId>,
    ) -> Option<LineId>,
) -> Option<LineId> {
    let mut tx = state.db.begin().await.unwrap();
    let seq = docstore::begin_write(&mut tx).await.unwrap();
    let mut doc = docstore::load(&mut tx, state.docs.actor(), w.org, w.orders[eng])
        .await
        .unwrap()
        .unwrap();
    let ctx = state.docs.edit_context(w.engineers[eng], Role::Engineer);
    let out = edit(&mut doc, &ctx, &mut w.visits[eng]);
    docstore::save(&mut tx, w.org, &mut doc, seq).await.unwrap();
    lastmile_server::inventory::post_consumption(&mut tx, w.org, &doc, seq)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    out
}

/// Post every order's stored document again (a replayed sync).
async fn replay(state: &AppState, w: &World) {
    for order in &w.orders {
        let mut tx = state.db.begin().await.unwrap();
        let seq = docstore::begin_write(&mut tx).await.unwrap();
        let doc = docstore::load(&mut tx, state.docs.actor(), w.org, *order)
            .await
            .unwrap()
            .unwrap();
        let events = lastmile_server::inventory::post_consumption(&mut tx, w.org, &doc, seq)
            .await
            .unwrap();
        assert!(events.is_empty(), "a replay raised {events:?}");
        tx.commit().await.unwrap();
    }
}

/// Apply a committed stock operation to the model; `checked`: first say whether it should
/// have succeeded.
fn model_stock(m: &mut Model, op: &Op, ok: bool, checked: bool) -> Result<(), TestCaseError> {
    let expect = match op {
        Op::Receive { .. } | Op::ReleaseAll => true,
        Op::Issue { part, qty, .. } | Op::Reserve { part, qty } => m.available(0, *part) >= *qty,
        Op::Transfer {
            part,
            from,
            to,
            qty,
        } => from != to && m.available(1 + from, *part) >= *qty,
        Op::Return { part, eng, qty } => m.available(1 + eng, *part) >= *qty,
        Op::Adjust { part, at, delta } => {
            *delta > 0 || m.available(at.map_or(0, |e| 1 + e), *part) >= -delta
        }
        _ => unreachable!(),
    };
    if checked {
        prop_assert_eq!(ok, expect, "{:?} against {:?}", op, m.stock);
    }
    if !ok {
        return Ok(());
    }
    match op {
        Op::Receive { part, qty } => m.add(0, *part, *qty),
        Op::Issue { part, eng, qty } => {
            m.add(0, *part, -qty);
            m.add(1 + eng, *part, *qty);
        }
        Op::Transfer {
            part,
            from,
            to,
            qty,
        } => {
            m.add(1 + from, *part, -qty);
            m.add(1 + to, *part, *qty);
        }
        Op::Return { part, eng, qty } => {
            m.add(1 + eng, *part, -qty);
            m.add(0, *part, *qty);
        }
        Op::Adjust { part, at, delta } => m.add(at.map_or(0, |e| 1 + e), *part, *delta),
        Op::Reserve { part, qty } => m.stock.entry((0, *part)).or_default().1 += qty,
        Op::ReleaseAll => {
            for v in m.stock.values_mut() {
                v.1 = 0;
            }
        }
        _ => unreachable!(),
    }
    Ok(())
}

async fn apply(
    state: &AppState,
    w: &mut World,
    m: &mut Model,
    op: &Op,
) -> Result<(), TestCaseError> {
    match op {
        Op::Consume { part, eng, qty } => {
            let sku = PARTS.get(*part).copied().unwrap_or(UNKNOWN);
            let (qty, sku) = (*qty, sku.to_owned());
            let id = sync_edit(state, w, *eng, |doc, ctx, visit| {
                let v = *visit.get_or_insert_with(|| doc.start_visit(ctx).unwrap());
                let line = NewConsumption {
                    sku,
                    qty,
                    serial: None,
                    replaced_serial: None,
                };
                Some(doc.consume_part(ctx, &v, &line).unwrap())
            })
            .await
            .unwrap();
            if *part < PARTS.len() {
                m.add(1 + eng, *part, -qty);
            }
            m.lines.push((*eng, *part, qty, false));
            m.line_ids.push((id, w.visits[*eng].unwrap()));
        }
        Op::Void { pick } => {
            let open: Vec<usize> = (0..m.lines.len()).filter(|i| !m.lines[*i].3).collect();
            if open.is_empty() {
                return Ok(());
            }
            let i = open[pick % open.len()];
            let (eng, part, qty, _) = m.lines[i];
            let (line, visit) = m.line_ids[i];
            sync_edit(state, w, eng, |doc, ctx, _| {
                Some(doc.void_consumption(ctx, &visit, &line).unwrap())
            })
            .await;
            m.lines[i].3 = true;
            if part < PARTS.len() {
                m.add(1 + eng, part, qty);
            }
        }
        Op::Replay => replay(state, w).await,
        Op::Concurrent(a, b) => {
            let stock = |o: &Op| {
                !matches!(
                    o,
                    Op::Consume { .. } | Op::Void { .. } | Op::Replay | Op::Concurrent(..)
                )
            };
            // Releasing every reservation does not commute with reserving: the model could not
            // tell which happened first, so such a pair runs one after the other.
            let releases = |o: &Op| matches!(o, Op::ReleaseAll);
            if stock(a) && stock(b) && !releases(a) && !releases(b) {
                let (ra, rb) = tokio::join!(stock_op(state, w, a), stock_op(state, w, b));
                // Either order is a valid history: the model follows the outcomes.
                model_stock(m, a, ra, false)?;
                model_stock(m, b, rb, false)?;
            } else if stock(a) && matches!(**b, Op::Replay) {
                let (ra, ()) = tokio::join!(stock_op(state, w, a), replay(state, w));
                model_stock(m, a, ra, false)?;
            } else {
                Box::pin(apply(state, w, m, a)).await?;
                Box::pin(apply(state, w, m, b)).await?;
            }
        }
        stock => {
            let ok = stock_op(state, w, stock).await;
            model_stock(m, stock, ok, true)?;
        }
    }
    // Reserved stock is part of the good stock: available never below zero anywhere but vans.
    for part in 0..PARTS.len() {
        let (q, r) = m.get(0, part);
        prop_assert!(r >= 0 && q - r >= 0, "warehouse oversold: {:?}", m.stock);
    }
    Ok(())
}

async fn run_case(app: &TestApp, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let state = &app.state;
    let mut w = world(state).await;
    let mut m = Model::default();
    for op in &ops {
        apply(state, &mut w, &mut m, op).await?;
    }
    // Balances equal the model...
    let mut conn = state.db.pool().acquire().await.unwrap();
    for (part, sku) in PARTS.iter().enumerate() {
        for loc in 0..=ENGINEERS {
            let id = if loc == 0 { &w.wh } else { &w.vans[loc - 1] };
            let b = lastmile_server::inventory::ledger::balance(&mut conn, w.org, id, sku)
                .await
                .unwrap();
            prop_assert_eq!(
                (b.qty, b.reserved),
                m.get(loc, part),
                "location {} part {}",
                loc,
                part
            );
        }
    }
    // ... and the ledger.
    let report = check::run(&mut conn, Some(w.org)).await.unwrap();
    prop_assert!(report.is_clean(), "drift: {:?}", report.drifts);
    // Every synced line recorded once; each posted at most once, each void reversed once.
    let recorded: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM posted_lines WHERE org_id = $1")
        .bind(w.org.to_string())
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let voids = m.lines.iter().filter(|l| l.3).count();
    prop_assert_eq!(recorded as usize, m.lines.len() + voids);
    let twice: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT line_id FROM stock_movements WHERE org_id = $1 \
         AND line_id IS NOT NULL GROUP BY line_id, kind HAVING COUNT(*) > 1) t",
    )
    .bind(w.org.to_string())
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    prop_assert_eq!(twice, 0);
    let known = m.lines.iter().filter(|l| l.1 < PARTS.len()).count() as i64;
    let consumed: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM stock_movements WHERE org_id = $1 AND kind = 'consume'",
    )
    .bind(w.org.to_string())
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    prop_assert_eq!(consumed, known);
    Ok(())
}

fn cases() -> u32 {
    std::env::var("LASTMILE_INVENTORY_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

fn run(db: impl FnOnce(&tokio::runtime::Runtime) -> TestDb) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let db = db(&rt);
    let app = rt.block_on(TestApp::new(db));
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        max_shrink_iters: 200,
        ..Config::default()
    });
    let result = runner.run(&proptest::collection::vec(op(), 1..40), |ops| {
        rt.block_on(run_case(&app, ops))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    drop(app);
}

#[test]
fn random_movements_keep_balances_equal_to_the_ledger_on_sqlite() {
    run(|_| TestDb::sqlite());
}

#[test]
fn random_movements_keep_balances_equal_to_the_ledger_on_postgres() {
    run(|rt| rt.block_on(TestDb::postgres()));
}
