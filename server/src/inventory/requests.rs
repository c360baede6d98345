//! Parts requests. A request lives in its work-order document (the engineer makes it on the
//! phone, offline too, with sync-core's `request_parts`); the server projects the requests of
//! every document it stores into `parts_requests`, so the warehouse lists pending ones without
//! loading documents. A decision ([`decide`]) is written into the document with sync-core's
//! `decide_parts_request` and, when something is approved, issued from a warehouse to the
//! requesting engineer's van, in one transaction: the phone sees both after its next sync.

use super::catalog::{self, Arg, Where};
use super::events::About;
use super::ledger::{Movement, Refs, Writer};
use super::locations::{self, LocationKind};
use super::{Actor, Condition, InvError, Kind, Result, check_serial};
use crate::docstore;
use crate::state::AppState;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use sync_core::workorder::PartsRequest as DocRequest;
use sync_core::{DocId, LineId, OrgId, Role, UserId};
use utoipa::ToSchema;

/// A parts request, as projected from its work order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PartsRequest {
    /// The request's line id in the document.
    pub id: String,
    pub work_order_id: String,
    pub work_order_number: Option<String>,
    pub sku: String,
    pub qty: i64,
    pub note: String,
    pub requested_by: String,
    pub requested_at_ms: i64,
    /// pending, approved, partly_approved or rejected.
    pub status: String,
    pub approved_qty: Option<i64>,
    pub decided_by: Option<String>,
    pub decided_at_ms: Option<i64>,
    pub decision_note: Option<String>,
    /// The warehouse the approved quantity was issued from.
    pub from_location: Option<String>,
}

impl PartsRequest {
    fn from_row(r: &AnyRow) -> Result<PartsRequest> {
        Ok(PartsRequest {
            id: r.try_get("id")?,
            work_order_id: r.try_get("work_order_id")?,
            work_order_number: r.try_get("number")?,
            sku: r.try_get("sku")?,
            qty: r.try_get("qty")?,
            note: r.try_get("note")?,
            requested_by: r.try_get("requested_by")?,
            requested_at_ms: r.try_get("requested_at")?,
            status: r.try_get("status")?,
            approved_qty: r.try_get("approved_qty")?,
            decided_by: r.try_get("decided_by")?,
            decided_at_ms: r.try_get("decided_at")?,
            decision_note: r.try_get("decision_note")?,
            from_location: r.try_get("from_location")?,
        })
    }
}

const SELECT: &str = "SELECT p.id, p.work_order_id, w.number, p.sku, p.qty, p.note, \
                      p.requested_by, p.requested_at, p.status, p.approved_qty, p.decided_by, \
                      p.decided_at, p.decision_note, p.from_location FROM parts_requests p \
                      LEFT JOIN work_orders w ON w.org_id = p.org_id AND w.id = p.work_order_id";

fn status_of(qty: i64, approved: Option<i64>) -> &'static str {
    match approved {
        None => "pending",
        Some(0) => "rejected",
        Some(a) if a < qty => "partly_approved",
        Some(_) => "approved",
    }
}

/// Project the parts requests of a stored document (inside its write transaction).
pub async fn project(
    tx: &mut AnyConnection,
    w: &Writer,
    order: DocId,
    requests: &[DocRequest],
) -> Result<()> {
    for r in requests {
        let approved = r.decision.as_ref().map(|d| d.approved_qty);
        sqlx::query(
            "INSERT INTO parts_requests (org_id, id, work_order_id, sku, qty, note, requested_by, \
             requested_at, status, approved_qty, decided_by, decided_at, decision_note, seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (org_id, id) DO UPDATE SET status = excluded.status, \
             approved_qty = excluded.approved_qty, decided_by = excluded.decided_by, \
             decided_at = excluded.decided_at, decision_note = excluded.decision_note, \
             seq = excluded.seq WHERE parts_requests.status <> excluded.status",
        )
        .bind(w.org.to_string())
        .bind(r.id.to_string())
        .bind(order.to_string())
        .bind(&r.sku)
        .bind(r.qty)
        .bind(&r.note)
        .bind(r.requested_by.to_string())
        .bind(r.at_ms)
        .bind(status_of(r.qty, approved))
        .bind(approved)
        .bind(r.decision.as_ref().map(|d| d.by.to_string()))
        .bind(r.decision.as_ref().map(|d| d.at_ms))
        .bind(r.decision.as_ref().map(|d| d.note.clone()))
        .bind(w.seq)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// One request.
pub async fn get(conn: &mut AnyConnection, org: OrgId, id: &str) -> Result<Option<PartsRequest>> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "{SELECT} WHERE p.org_id = $1 AND p.id = $2"
    )))
    .bind(org.to_string())
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(PartsRequest::from_row).transpose()
}

/// Request filters.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestFilter {
    /// pending (default), approved, partly_approved, rejected, decided or all.
    pub status: Option<String>,
    pub work_order_id: Option<String>,
    pub sku: Option<String>,
    pub requested_by: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Requests, oldest first (pending ones are a queue).
pub async fn list(
    conn: &mut AnyConnection,
    org: OrgId,
    f: &RequestFilter,
) -> Result<(i64, Vec<PartsRequest>)> {
    let mut w = Where::new(org, "p.org_id");
    match f.status.as_deref().unwrap_or("pending") {
        "all" => {}
        "decided" => w.and("p.status <> 'pending'", []),
        s @ ("pending" | "approved" | "partly_approved" | "rejected") => {
            w.and("p.status = ?", [Arg::Text(s.to_owned())]);
        }
        other => return Err(InvError::Invalid(format!("unknown status {other:?}"))),
    }
    for (col, v) in [
        ("p.work_order_id", &f.work_order_id),
        ("p.sku", &f.sku),
        ("p.requested_by", &f.requested_by),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            w.and(&format!("{col} = ?"), [Arg::Text(v.trim().to_owned())]);
        }
    }
    let (limit, offset) = catalog::page(f.limit, f.offset);
    let total: i64 = w
        .bind_scalar(sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM parts_requests p WHERE {}",
            w.sql
        ))))
        .fetch_one(&mut *conn)
        .await?;
    let rows = w
        .bind(sqlx::query(AssertSqlSafe(format!(
            "{SELECT} WHERE {} ORDER BY p.requested_at, p.id LIMIT {limit} OFFSET {offset}",
            w.sql
        ))))
        .fetch_all(&mut *conn)
        .await?;
    let items = rows
        .iter()
        .map(PartsRequest::from_row)
        .collect::<Result<_>>()?;
    Ok((total, items))
}

/// A warehouse decision.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct Decision {
    /// 0 rejects; less than requested partly approves.
    pub approved_qty: i64,
    /// The warehouse to issue from (id or code); default: the only warehouse.
    #[serde(default)]
    pub from_location: Option<String>,
    #[serde(default)]
    pub note: String,
    /// Serial-tracked parts: the serial numbers issued, one per approved unit.
    #[serde(default)]
    pub serials: Vec<String>,
}

/// What a decision did.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Decided {
    pub request: PartsRequest,
    /// The issue movements to the engineer's van.
    pub movement_ids: Vec<i64>,
}

/// Decide a pending request: write the decision into the work order and issue what was
/// approved to the requester's van, in one transaction (nothing happens if either fails, e.g.
/// 409 `insufficient_stock`).
pub async fn decide(
    state: &AppState,
    org: OrgId,
    user: UserId,
    role: Role,
    request_id: &str,
    d: &Decision,
) -> Result<Decided> {
    let line: LineId = request_id
        .parse()
        .map_err(|_| InvError::NotFound("parts request"))?;
    let mut tx = state.db.begin().await?;
    let mut w = Writer::begin(&mut tx, org, Actor::user(user, role)).await?;
    let req = get(&mut tx, org, request_id)
        .await?
        .ok_or(InvError::NotFound("parts request"))?;
    if req.status != "pending" {
        return Err(InvError::AlreadyDecided(format!(
            "the request is {} already",
            req.status
        )));
    }
    if d.approved_qty < 0 || d.approved_qty > req.qty {
        return Err(InvError::InvalidQuantity(format!(
            "approved quantity must be between 0 and {}",
            req.qty
        )));
    }
    let order: DocId = req
        .work_order_id
        .parse()
        .map_err(|_| InvError::NotFound("work order"))?;
    let mut doc = docstore::load(&mut tx, state.docs.actor(), org, order)
        .await?
        .ok_or(InvError::NotFound("work order"))?;
    let ctx = state.docs.edit_context(user, role);
    doc.decide_parts_request(&ctx, &line, d.approved_qty, d.note.trim())?;
    docstore::save(&mut tx, org, &mut doc, w.seq).await?;

    let mut movement_ids = Vec::new();
    let mut from_code = None;
    let requester: UserId = req
        .requested_by
        .parse()
        .map_err(|_| InvError::Invalid("the request has no valid requester".into()))?;
    if d.approved_qty > 0 {
        let part = catalog::require(&mut tx, org, &req.sku).await?;
        let from = match d.from_location.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(l) => locations::resolve(&mut tx, org, l).await?,
            None => {
                locations::the_only(&mut tx, org, LocationKind::Warehouse, "from_location").await?
            }
        };
        if from.kind != LocationKind::Warehouse {
            return Err(InvError::WrongLocation(format!(
                "{} is not a warehouse",
                from.code
            )));
        }
        let van = locations::ensure_van(&mut tx, org, requester)
            .await?
            .ok_or_else(|| InvError::Invalid("the requester is no longer a user".into()))?;
        let serials = issue_serials(&part, d.approved_qty, &d.serials)?;
        let (_, reservation) = super::reservations::take_for_issue(
            &mut tx,
            &mut w,
            &req.work_order_id,
            &from.id,
            &part.sku,
            d.approved_qty,
        )
        .await?;
        let refs = Refs {
            work_order_id: Some(req.work_order_id.clone()),
            engineer_id: Some(requester.to_string()),
            reservation_id: reservation,
            request_id: Some(req.id.clone()),
            note: d.note.trim().to_owned(),
            ..Refs::default()
        };
        for (qty, serial) in serials {
            let posted = w
                .post(
                    &mut tx,
                    &Movement {
                        kind: Kind::Issue,
                        part: &part,
                        qty,
                        from: Some((&from, Condition::Good)),
                        to: Some((&van, Condition::Good)),
                        serial,
                        checked: true,
                        refs: refs.clone(),
                    },
                )
                .await?;
            movement_ids.push(posted.id);
        }
        from_code = Some(from.id.clone());
    }
    let status = status_of(req.qty, Some(d.approved_qty));
    sqlx::query(
        "UPDATE parts_requests SET status = $3, approved_qty = $4, decided_by = $5, \
         decided_at = $6, decision_note = $7, from_location = $8, seq = $9 \
         WHERE org_id = $1 AND id = $2",
    )
    .bind(org.to_string())
    .bind(&req.id)
    .bind(status)
    .bind(d.approved_qty)
    .bind(user.to_string())
    .bind(w.now)
    .bind(d.note.trim())
    .bind(from_code)
    .bind(w.seq)
    .execute(&mut *tx)
    .await?;
    w.emit(
        &mut tx,
        "parts_request_decided",
        About {
            sku: Some(req.sku.clone()),
            work_order_id: Some(req.work_order_id.clone()),
            ..About::default()
        },
        serde_json::json!({
            "request_id": req.id,
            "requested_by": req.requested_by,
            "qty": req.qty,
            "approved_qty": d.approved_qty,
            "status": status,
        }),
    )
    .await?;
    let mut touched = vec![requester];
    touched.extend(doc.dispatch().ok().and_then(|x| x.assignee));
    crate::sync::feed::notify_in_tx(&mut tx, state.db.backend(), org, &touched).await?;
    let request = get(&mut tx, org, request_id)
        .await?
        .ok_or(InvError::NotFound("parts request"))?;
    tx.commit().await?;
    state.docs.feed().notify_local(org, &touched);
    tracing::info!(request = %request.id, status, "parts request decided");
    Ok(Decided {
        request,
        movement_ids,
    })
}

/// Split an issue of `qty` into movements: one per serial number for serial-tracked parts
/// (exactly `qty` distinct serials), else one movement and no serials.
pub fn issue_serials(
    part: &catalog::Part,
    qty: i64,
    serials: &[String],
) -> Result<Vec<(i64, Option<String>)>> {
    super::check_qty(qty)?;
    if !part.serial_tracked {
        if !serials.is_empty() {
            return Err(InvError::Serials(format!(
                "{} has no serial numbers",
                part.sku
            )));
        }
        return Ok(vec![(qty, None)]);
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(serials.len());
    for s in serials {
        let s = check_serial(s)?;
        if !seen.insert(s.clone()) {
            return Err(InvError::Serials(format!("serial {s} is given twice")));
        }
        out.push((1, Some(s)));
    }
    if out.len() as i64 != qty {
        return Err(InvError::Serials(format!(
            "{} is serial-tracked: give {qty} serial number(s), one per unit (got {})",
            part.sku,
            out.len()
        )));
    }
    Ok(out)
}
