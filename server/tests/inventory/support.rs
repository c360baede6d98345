//! What the inventory tests share: an organisation with a warehouse and parts (set up over the
//! HTTP API as warehouse staff), a phone that edits a work order offline and pushes it through
//! the real sync endpoint, and snapshots of every stock table for "nothing changed".

use crate::common::{Fixture, Response, TestApp, TestDb};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use lastmile_server::docstore;
use lastmile_server::inventory::check;
use serde_json::{Value, json};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use sync_core::protocol::wire::{self, DocPush, Limits, SyncRequest, SyncResponse};
use sync_core::{ActorId, DocId, EditContext, Hlc, OrgId, Role, UserId, WorkOrderDoc};
use tower::ServiceExt;

/// An organisation (the common fixture: every role, an order assigned to `f.engineer`) with a
/// warehouse `WH-1`.
pub struct Inv {
    pub app: TestApp,
    pub f: Fixture,
    pub wh: String,
    pub order: DocId,
}

impl Inv {
    pub async fn new(db: TestDb) -> Inv {
        let app = TestApp::new(db).await;
        let f = Fixture::new(&app).await;
        let order = f.work_order.parse().unwrap();
        let inv = Inv {
            wh: String::new(),
            app,
            f,
            order,
        };
        let wh = inv
            .ok(
                "POST",
                "/api/v1/inventory/locations",
                json!({"code": "WH-1", "name": "Central warehouse", "kind": "warehouse"}),
            )
            .await;
        Inv {
            wh: wh["id"].as_str().unwrap().to_owned(),
            ..inv
        }
    }

    pub fn org(&self) -> OrgId {
        self.f.org
    }

    /// A request as warehouse staff.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Response {
        self.app
            .call(
                method.parse().unwrap(),
                path,
                Some(&self.f.warehouse.token),
                body,
            )
            .await
    }

    /// A request as warehouse staff that must succeed; its JSON body.
    pub async fn ok(&self, method: &str, path: &str, body: Value) -> Value {
        let body = (method != "GET").then_some(body);
        let r = self.call(method, path, body).await;
        assert!(
            r.status.is_success(),
            "{method} {path}: {} {}",
            r.status,
            r.body
        );
        r.body
    }

    pub async fn part(&self, sku: &str, unit: &str, serial_tracked: bool) -> Value {
        self.ok(
            "POST",
            "/api/v1/inventory/parts",
            json!({"sku": sku, "name": format!("Part {sku}"), "unit": unit,
                   "unit_cost_minor": 1250, "category": "Test",
                   "serial_tracked": serial_tracked, "compatible_models": ["Chiller X200"]}),
        )
        .await
    }

    pub async fn receive(&self, sku: &str, qty: i64, serials: &[&str]) -> Value {
        self.ok(
            "POST",
            "/api/v1/inventory/receipts",
            json!({"location": "WH-1", "supplier": "Danfoss", "reference": "PO-1",
                   "lines": [{"sku": sku, "qty": qty, "serials": serials}]}),
        )
        .await
    }

    pub async fn issue_to(&self, engineer: UserId, sku: &str, qty: i64, serials: &[&str]) -> Value {
        self.ok(
            "POST",
            "/api/v1/inventory/issues",
            json!({"from": "WH-1", "engineer_id": engineer.to_string(),
                   "lines": [{"sku": sku, "qty": qty, "serials": serials}]}),
        )
        .await
    }

    /// The engineer's van (created if missing).
    pub async fn van(&self, engineer: UserId) -> String {
        let mut tx = self.app.state.db.begin().await.unwrap();
        let van = lastmile_server::inventory::locations::ensure_van(&mut tx, self.org(), engineer)
            .await
            .unwrap()
            .unwrap();
        tx.commit().await.unwrap();
        van.id
    }

    /// (good, defective, reserved) of a part at a location.
    pub async fn balance(&self, location: &str, sku: &str) -> (i64, i64, i64) {
        let mut conn = self.app.state.db.pool().acquire().await.unwrap();
        let b = lastmile_server::inventory::ledger::balance(&mut conn, self.org(), location, sku)
            .await
            .unwrap();
        (b.qty, b.defective, b.reserved)
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .bind(self.org().to_string())
            .fetch_one(self.app.state.db.pool())
            .await
            .unwrap()
    }

    /// `lastmile inventory check` on this organisation: no drift.
    pub async fn assert_ledger_clean(&self) {
        let mut conn = self.app.state.db.pool().acquire().await.unwrap();
        let report = check::run(&mut conn, Some(self.org())).await.unwrap();
        assert!(report.is_clean(), "drift: {:#?}", report.drifts);
    }

    /// Every stock table of the organisation, for "nothing changed".
    pub async fn snapshot(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (table, order) in [
            ("parts", "sku"),
            ("locations", "id"),
            ("stock_movements", "id"),
            ("stock_balances", "location_id, sku"),
            ("serials", "sku, serial"),
            ("reservations", "id"),
            ("stock_levels", "location_id, sku"),
            ("posted_lines", "line_id"),
            ("discrepancies", "id"),
            ("parts_requests", "id"),
            ("inventory_events", "id"),
        ] {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT * FROM {table} WHERE org_id = $1 ORDER BY {order}"
            )))
            .bind(self.org().to_string())
            .fetch_all(self.app.state.db.pool())
            .await
            .unwrap();
            out.push(format!("{table}: {}", rows.len()));
            for r in &rows {
                out.push(row_text(r));
            }
        }
        out
    }
}

/// A row as text (every column, whatever its type).
fn row_text(r: &sqlx::any::AnyRow) -> String {
    use sqlx::{Column, Row};
    r.columns()
        .iter()
        .map(|c| {
            let i = c.ordinal();
            r.try_get::<Option<String>, _>(i)
                .map(|v| v.unwrap_or_default())
                .or_else(|_| r.try_get::<Option<i64>, _>(i).map(|v| format!("{v:?}")))
                .or_else(|_| r.try_get::<Option<f64>, _>(i).map(|v| format!("{v:?}")))
                .unwrap_or_else(|_| "?".into())
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// An engineer's phone: edits a copy of a work order with its own Automerge actor and pushes
/// the whole document through `POST /api/v1/sync` with a device token.
pub struct Phone {
    pub actor: ActorId,
    pub user: UserId,
    pub token: String,
    node: u32,
    hlc: Mutex<Hlc>,
    time: AtomicI64,
}

impl Phone {
    pub fn new(user: UserId, token: &str) -> Phone {
        let actor = ActorId::random();
        let node = actor
            .to_bytes()
            .iter()
            .take(4)
            .fold(0u32, |a, b| (a << 8) | u32::from(*b));
        Phone {
            actor,
            user,
            token: token.to_owned(),
            node,
            hlc: Mutex::new(Hlc::ZERO),
            time: AtomicI64::new(1_795_000_000_000),
        }
    }

    pub fn ctx(&self) -> EditContext {
        let now = self.time.fetch_add(60_000, Ordering::Relaxed);
        let mut hlc = self.hlc.lock().unwrap();
        *hlc = hlc.tick(now, self.node);
        EditContext {
            user: self.user,
            role: Role::Engineer,
            device_time_ms: now,
            hlc: *hlc,
        }
    }

    /// The order as the server has it now, as this phone's copy.
    pub async fn load(&self, app: &TestApp, org: OrgId, order: DocId) -> WorkOrderDoc {
        let mut conn = app.state.db.pool().acquire().await.unwrap();
        docstore::load(&mut conn, &self.actor, org, order)
            .await
            .unwrap()
            .expect("order")
    }

    /// A sync request pushing the whole document (the server merges what it lacks).
    pub fn request(&self, doc: &mut WorkOrderDoc) -> Vec<u8> {
        let req = SyncRequest {
            cursor: 0,
            applied: 0,
            pushes: vec![DocPush {
                id: doc.id().unwrap(),
                base: Vec::new(),
                heads: wire::to_wire(&doc.heads()),
                changes: doc.save(),
            }],
            evicted: Vec::new(),
            reference_version: 0,
        };
        wire::encode_request(&req).unwrap()
    }

    /// POST a sync request; the decoded response.
    pub async fn post(&self, app: &TestApp, bytes: &[u8]) -> SyncResponse {
        let req = Request::builder()
            .method("POST")
            .uri("/api/v1/sync")
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(Body::from(bytes.to_vec()))
            .unwrap();
        let resp = app.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let resp = wire::decode_response(&body, &Limits::default()).unwrap();
        for ack in &resp.acks {
            assert!(ack.error.is_none(), "push refused: {ack:?}");
        }
        resp
    }

    /// Edit the order offline, then sync it.
    pub async fn edit_and_sync<R>(
        &self,
        inv: &Inv,
        order: DocId,
        f: impl FnOnce(&mut WorkOrderDoc, &Phone) -> R,
    ) -> R {
        let mut doc = self.load(&inv.app, inv.org(), order).await;
        let out = f(&mut doc, self);
        let bytes = self.request(&mut doc);
        self.post(&inv.app, &bytes).await;
        out
    }
}

/// A consumption line to add on the phone.
pub fn line(sku: &str, qty: i64) -> sync_core::workorder::NewConsumption {
    sync_core::workorder::NewConsumption {
        sku: sku.into(),
        qty,
        serial: None,
        replaced_serial: None,
    }
}
