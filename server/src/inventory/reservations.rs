//! Reservations: stock held at a location for a work order. Reserved stock counts in the
//! balance's `reserved` and is not available to anyone else (every checked decrement requires
//! `qty - reserved >= n`). An issue for the same work order takes from its reservations first.
//! A reservation ends when it is fully issued (`fulfilled`), released by a person, released
//! because its work order was completed, cancelled or closed, or when it expires; the last two
//! happen at the start of the organisation's next stock write ([`sweep`]) and before stock is
//! listed.

use super::catalog::{self, Arg, Where};
use super::events::About;
use super::ledger::Writer;
use super::locations::{self, LocationKind};
use super::{InvError, Result, check_qty};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use sync_core::{DocId, OrgId};
use utoipa::ToSchema;

/// A reservation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Reservation {
    pub id: String,
    pub work_order_id: String,
    pub location_id: String,
    pub sku: String,
    /// Still held.
    pub qty: i64,
    /// Issued against it so far.
    pub issued: i64,
    /// active, fulfilled, released or expired.
    pub status: String,
    pub expires_at_ms: Option<i64>,
    pub created_by: Option<String>,
    pub created_at_ms: i64,
    pub closed_at_ms: Option<i64>,
    pub close_reason: Option<String>,
}

impl Reservation {
    fn from_row(r: &AnyRow) -> Result<Reservation> {
        Ok(Reservation {
            id: r.try_get("id")?,
            work_order_id: r.try_get("work_order_id")?,
            location_id: r.try_get("location_id")?,
            sku: r.try_get("sku")?,
            qty: r.try_get("qty")?,
            issued: r.try_get("issued")?,
            status: r.try_get("status")?,
            expires_at_ms: r.try_get("expires_at")?,
            created_by: r.try_get("created_by")?,
            created_at_ms: r.try_get("created_at")?,
            closed_at_ms: r.try_get("closed_at")?,
            close_reason: r.try_get("close_reason")?,
        })
    }
}

const COLUMNS: &str = "id, work_order_id, location_id, sku, qty, issued, status, expires_at, \
                       created_by, created_at, closed_at, close_reason";

/// Hold stock for a work order.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NewReservation {
    pub work_order_id: String,
    /// Location id or code (a warehouse or a van).
    pub location: String,
    pub sku: String,
    /// In the part's minor unit.
    pub qty: i64,
    /// Released automatically at this time (UTC ms); none: held until issued, released or the
    /// work order finishes.
    #[serde(default)]
    pub expires_at_ms: Option<i64>,
}

const FINISHED: &str = "('completed', 'cancelled', 'closed')";

/// Reserve stock (409 `insufficient_stock` when not enough is available).
pub async fn create(
    tx: &mut AnyConnection,
    w: &mut Writer,
    new: &NewReservation,
) -> Result<Reservation> {
    let org = w.org;
    let order: DocId = new
        .work_order_id
        .parse()
        .map_err(|_| InvError::Invalid("work_order_id is not a valid id".into()))?;
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM work_orders WHERE org_id = $1 AND id = $2")
            .bind(org.to_string())
            .bind(order.to_string())
            .fetch_optional(&mut *tx)
            .await?;
    match status.as_deref() {
        None => return Err(InvError::Invalid("no such work order".into())),
        Some("completed" | "cancelled" | "closed") => {
            return Err(InvError::Invalid(
                "the work order is finished: nothing to reserve for".into(),
            ));
        }
        _ => {}
    }
    let part = catalog::require(tx, org, &new.sku).await?;
    let qty = check_qty(new.qty)?;
    let loc = locations::resolve(tx, org, &new.location).await?;
    if loc.kind == LocationKind::Quarantine {
        return Err(InvError::WrongLocation(
            "quarantine stock cannot be reserved".into(),
        ));
    }
    if let Some(t) = new.expires_at_ms
        && t <= w.now
    {
        return Err(InvError::Invalid("expires_at_ms is in the past".into()));
    }
    let row = sqlx::query(
        "UPDATE stock_balances SET reserved = reserved + $4, seq = $5, updated_at = $6 \
         WHERE org_id = $1 AND location_id = $2 AND sku = $3 AND qty - reserved >= $4 \
         RETURNING qty, reserved",
    )
    .bind(org.to_string())
    .bind(&loc.id)
    .bind(&part.sku)
    .bind(qty)
    .bind(w.seq)
    .bind(w.now)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        let b = super::ledger::balance(tx, org, &loc.id, &part.sku).await?;
        return Err(InvError::InsufficientStock {
            sku: part.sku,
            location: loc.code,
            available: b.available(),
            requested: qty,
        });
    };
    let after: i64 = row.try_get::<i64, _>("qty")? - row.try_get::<i64, _>("reserved")?;
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO reservations (org_id, id, work_order_id, location_id, sku, qty, issued, \
         status, expires_at, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, 'active', $7, $8, $9)",
    )
    .bind(org.to_string())
    .bind(&id)
    .bind(order.to_string())
    .bind(&loc.id)
    .bind(&part.sku)
    .bind(qty)
    .bind(new.expires_at_ms)
    .bind(w.actor.user.map(|u| u.to_string()))
    .bind(w.now)
    .execute(&mut *tx)
    .await?;
    w.check_low_stock(tx, &loc, &part.sku, after + qty, after)
        .await?;
    get(tx, org, &id)
        .await?
        .ok_or(InvError::NotFound("reservation"))
}

/// One reservation.
pub async fn get(conn: &mut AnyConnection, org: OrgId, id: &str) -> Result<Option<Reservation>> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM reservations WHERE org_id = $1 AND id = $2"
    )))
    .bind(org.to_string())
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(Reservation::from_row).transpose()
}

/// Release an active reservation (404 if unknown, 409 if no longer active).
pub async fn release(
    tx: &mut AnyConnection,
    w: &mut Writer,
    id: &str,
    reason: &str,
) -> Result<Reservation> {
    let r = get(tx, w.org, id)
        .await?
        .ok_or(InvError::NotFound("reservation"))?;
    if r.status != "active" {
        return Err(InvError::Conflict(format!(
            "the reservation is {} already",
            r.status
        )));
    }
    close(tx, w, &r, "released", reason).await?;
    get(tx, w.org, id)
        .await?
        .ok_or(InvError::NotFound("reservation"))
}

async fn close(
    tx: &mut AnyConnection,
    w: &mut Writer,
    r: &Reservation,
    status: &str,
    reason: &str,
) -> Result<()> {
    let org = w.org.to_string();
    sqlx::query(
        "UPDATE reservations SET status = $3, qty = 0, closed_at = $4, close_reason = $5 \
         WHERE org_id = $1 AND id = $2",
    )
    .bind(&org)
    .bind(&r.id)
    .bind(status)
    .bind(w.now)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    unreserve(tx, w, &r.location_id, &r.sku, r.qty).await?;
    w.emit(
        tx,
        "reservation_closed",
        About {
            location_id: Some(r.location_id.clone()),
            sku: Some(r.sku.clone()),
            work_order_id: Some(r.work_order_id.clone()),
            ..About::default()
        },
        serde_json::json!({
            "reservation_id": r.id,
            "status": status,
            "reason": reason,
            "qty": r.qty,
        }),
    )
    .await
}

async fn unreserve(
    tx: &mut AnyConnection,
    w: &Writer,
    location_id: &str,
    sku: &str,
    qty: i64,
) -> Result<()> {
    if qty == 0 {
        return Ok(());
    }
    sqlx::query(
        "UPDATE stock_balances SET reserved = reserved - $4, seq = $5, updated_at = $6 \
         WHERE org_id = $1 AND location_id = $2 AND sku = $3",
    )
    .bind(w.org.to_string())
    .bind(location_id)
    .bind(sku)
    .bind(qty)
    .bind(w.seq)
    .bind(w.now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Close the reservations that expired or whose work order finished.
pub async fn sweep(tx: &mut AnyConnection, w: &mut Writer) -> Result<usize> {
    let due = due(tx, w.org, w.now).await?;
    for (r, expired) in &due {
        if *expired {
            close(tx, w, r, "expired", "expired").await?;
        } else {
            close(tx, w, r, "released", "work order finished").await?;
        }
    }
    Ok(due.len())
}

/// Active reservations that should close now, and whether each expired (else its work order
/// finished).
async fn due(conn: &mut AnyConnection, org: OrgId, now: i64) -> Result<Vec<(Reservation, bool)>> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT r.{}, CASE WHEN r.expires_at IS NOT NULL AND r.expires_at <= $2 THEN 1 ELSE 0 END \
         AS expired FROM reservations r \
         LEFT JOIN work_orders w ON w.org_id = r.org_id AND w.id = r.work_order_id \
         WHERE r.org_id = $1 AND r.status = 'active' \
         AND ((r.expires_at IS NOT NULL AND r.expires_at <= $2) OR w.status IN {FINISHED})",
        COLUMNS.replace(", ", ", r.")
    )))
    .bind(org.to_string())
    .bind(now)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                Reservation::from_row(r)?,
                r.try_get::<i64, _>("expired")? == 1,
            ))
        })
        .collect()
}

/// Whether a sweep would close anything (a read, so listings sweep only when needed).
pub async fn any_due(conn: &mut AnyConnection, org: OrgId, now: i64) -> Result<bool> {
    Ok(!due(conn, org, now).await?.is_empty())
}

/// Run a sweep in its own write transaction if one is due: before listing availability.
pub async fn sweep_if_due(db: &crate::Db, org: OrgId) -> Result<()> {
    let mut conn = db.pool().acquire().await?;
    if !any_due(&mut conn, org, crate::now_ms()).await? {
        return Ok(());
    }
    drop(conn);
    let mut tx = db.begin().await?;
    Writer::begin(&mut tx, org, super::Actor::system()).await?;
    tx.commit().await?;
    Ok(())
}

/// Release up to `qty` of the work order's active reservations of `sku` at the location, to be
/// issued now; returns how much was released and the first reservation used.
pub async fn take_for_issue(
    tx: &mut AnyConnection,
    w: &mut Writer,
    work_order_id: &str,
    location_id: &str,
    sku: &str,
    qty: i64,
) -> Result<(i64, Option<String>)> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM reservations WHERE org_id = $1 AND work_order_id = $2 \
         AND location_id = $3 AND sku = $4 AND status = 'active' ORDER BY created_at, id"
    )))
    .bind(w.org.to_string())
    .bind(work_order_id)
    .bind(location_id)
    .bind(sku)
    .fetch_all(&mut *tx)
    .await?;
    let mut left = qty;
    let mut first = None;
    let mut taken = 0;
    for row in &rows {
        if left == 0 {
            break;
        }
        let r = Reservation::from_row(row)?;
        let take = left.min(r.qty);
        left -= take;
        taken += take;
        first.get_or_insert_with(|| r.id.clone());
        let remaining = r.qty - take;
        sqlx::query(
            "UPDATE reservations SET qty = $3, issued = issued + $4, status = $5, \
             closed_at = $6, close_reason = $7 WHERE org_id = $1 AND id = $2",
        )
        .bind(w.org.to_string())
        .bind(&r.id)
        .bind(remaining)
        .bind(take)
        .bind(if remaining == 0 {
            "fulfilled"
        } else {
            "active"
        })
        .bind((remaining == 0).then_some(w.now))
        .bind((remaining == 0).then_some("issued"))
        .execute(&mut *tx)
        .await?;
    }
    unreserve(tx, w, location_id, sku, taken).await?;
    Ok((taken, first))
}

/// Reservation filters.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReservationFilter {
    pub work_order_id: Option<String>,
    /// Location id or code.
    pub location: Option<String>,
    pub sku: Option<String>,
    /// active (default), fulfilled, released, expired or all.
    pub status: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Reservations, newest first.
pub async fn list(
    conn: &mut AnyConnection,
    org: OrgId,
    f: &ReservationFilter,
) -> Result<Vec<Reservation>> {
    let mut w = Where::new(org, "org_id");
    match f.status.as_deref().unwrap_or("active") {
        "all" => {}
        s @ ("active" | "fulfilled" | "released" | "expired") => {
            w.and("status = ?", [Arg::Text(s.to_owned())]);
        }
        other => return Err(InvError::Invalid(format!("unknown status {other:?}"))),
    }
    if let Some(o) = f.work_order_id.as_deref().filter(|s| !s.is_empty()) {
        w.and("work_order_id = ?", [Arg::Text(o.to_owned())]);
    }
    if let Some(l) = f.location.as_deref().filter(|s| !s.is_empty()) {
        let loc = locations::resolve(conn, org, l).await?;
        w.and("location_id = ?", [Arg::Text(loc.id)]);
    }
    if let Some(s) = f.sku.as_deref().filter(|s| !s.is_empty()) {
        w.and("sku = ?", [Arg::Text(s.trim().to_owned())]);
    }
    let (limit, offset) = catalog::page(f.limit, f.offset);
    let rows = w
        .bind(sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM reservations WHERE {} ORDER BY created_at DESC, id \
             LIMIT {limit} OFFSET {offset}",
            w.sql
        ))))
        .fetch_all(conn)
        .await?;
    rows.iter().map(Reservation::from_row).collect()
}
