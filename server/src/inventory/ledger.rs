//! The ledger: append-only movements, and the balances derived from them, written together.
//!
//! ```text
//! let mut tx = db.begin().await?;
//! let mut w = Writer::begin(&mut tx, org, actor).await?;  // write lock + seq, expired reservations
//! w.post(&mut tx, &Movement { kind: Kind::Issue, .. }).await?;
//! tx.commit().await?;
//! ```
//!
//! [`Writer::post`] inserts the movement, then moves the balance of each side: a *checked*
//! movement (everything but consumption synced from a phone) takes stock from its source only
//! with a conditional update (`... WHERE qty - reserved >= n`, judged by its row count), and a
//! serial number only from where it is. An error leaves the transaction to be rolled back.

use super::catalog::Part;
use super::events::{self, About, InventoryEvent};
use super::locations::Location;
use super::{Actor, Condition, InvError, Kind, Result};
use crate::docstore;
use crate::now_ms;
use serde::Serialize;
use sqlx::{AnyConnection, Row};
use sync_core::OrgId;
use utoipa::ToSchema;

/// One stock write transaction: its organisation, change sequence number, actor, and the
/// events it raised.
#[derive(Debug)]
pub struct Writer {
    pub org: OrgId,
    pub seq: i64,
    pub now: i64,
    pub actor: Actor,
    pub events: Vec<InventoryEvent>,
}

impl Writer {
    /// Start a stock write: take the global write lock and the transaction's seq (call it
    /// first in the transaction), then close reservations that expired or whose work order
    /// finished.
    pub async fn begin(tx: &mut AnyConnection, org: OrgId, actor: Actor) -> Result<Writer> {
        let seq = docstore::begin_write(tx).await?;
        let mut w = Writer::resume(org, seq, actor);
        super::reservations::sweep(tx, &mut w).await?;
        Ok(w)
    }

    /// A writer inside a transaction that already called `docstore::begin_write` (the sync
    /// endpoint's), with that transaction's seq.
    pub fn resume(org: OrgId, seq: i64, actor: Actor) -> Writer {
        Writer {
            org,
            seq,
            now: now_ms(),
            actor,
            events: Vec::new(),
        }
    }

    /// Raise an event in this transaction.
    pub async fn emit(
        &mut self,
        tx: &mut AnyConnection,
        kind: &str,
        about: About,
        detail: serde_json::Value,
    ) -> Result<()> {
        let e = events::emit(tx, self.org, self.seq, self.now, kind, about, detail).await?;
        self.events.push(e);
        Ok(())
    }

    /// Post one movement and update the balances (and the serial) it touches.
    pub async fn post(&mut self, tx: &mut AnyConnection, m: &Movement<'_>) -> Result<Posted> {
        super::check_qty(m.qty)?;
        if m.from.is_none() && m.to.is_none() {
            return Err(InvError::Invalid(
                "a movement needs a source or a destination".into(),
            ));
        }
        if let (Some((a, ca)), Some((b, cb))) = (m.from, m.to)
            && a.id == b.id
            && ca == cb
        {
            return Err(InvError::WrongLocation(
                "source and destination are the same".into(),
            ));
        }
        if m.checked {
            match (&m.serial, m.part.serial_tracked) {
                (Some(_), false) => {
                    return Err(InvError::Serials(format!(
                        "{} has no serial numbers",
                        m.part.sku
                    )));
                }
                (None, true) => {
                    return Err(InvError::Serials(format!(
                        "{} is serial-tracked: give the serial number of each unit",
                        m.part.sku
                    )));
                }
                (Some(_), true) if m.qty != 1 => {
                    return Err(InvError::Serials("one unit per serial number".into()));
                }
                _ => {}
            }
        }
        let from_balance = match m.from {
            Some((loc, cond)) => Some(self.take(tx, m, loc, cond).await?),
            None => None,
        };
        let to_balance = match m.to {
            Some((loc, cond)) => Some(change(tx, self, loc, &m.part.sku, cond, m.qty).await?),
            None => None,
        };
        if let Some(serial) = &m.serial {
            self.move_serial(tx, m, serial).await?;
        }
        let id = self.insert(tx, m).await?;
        Ok(Posted {
            id,
            from_balance,
            to_balance,
        })
    }

    /// Take `m.qty` from the source: checked (never below zero, never reserved stock) or not.
    async fn take(
        &mut self,
        tx: &mut AnyConnection,
        m: &Movement<'_>,
        loc: &Location,
        cond: Condition,
    ) -> Result<Balance> {
        let sku = &m.part.sku;
        let balance = if m.checked {
            let sql = match cond {
                Condition::Good => {
                    "UPDATE stock_balances SET qty = qty - $4, seq = $5, updated_at = $6 \
                     WHERE org_id = $1 AND location_id = $2 AND sku = $3 AND qty - reserved >= $4 \
                     RETURNING qty, defective, reserved"
                }
                Condition::Defective => {
                    "UPDATE stock_balances SET defective = defective - $4, seq = $5, \
                     updated_at = $6 \
                     WHERE org_id = $1 AND location_id = $2 AND sku = $3 AND defective >= $4 \
                     RETURNING qty, defective, reserved"
                }
            };
            let row = sqlx::query(sql)
                .bind(self.org.to_string())
                .bind(&loc.id)
                .bind(sku)
                .bind(m.qty)
                .bind(self.seq)
                .bind(self.now)
                .fetch_optional(&mut *tx)
                .await?;
            match row {
                Some(r) => Balance::from_row(&r)?,
                None => {
                    let b = balance(tx, self.org, &loc.id, sku).await?;
                    return Err(InvError::InsufficientStock {
                        sku: sku.clone(),
                        location: loc.code.clone(),
                        available: match cond {
                            Condition::Good => b.available(),
                            Condition::Defective => b.defective,
                        },
                        requested: m.qty,
                    });
                }
            }
        } else {
            change(tx, self, loc, sku, cond, -m.qty).await?
        };
        if cond == Condition::Good {
            let after = balance.available();
            self.check_low_stock(tx, loc, sku, after + m.qty, after)
                .await?;
        }
        Ok(balance)
    }

    /// Raise `low_stock` when available stock crosses below the location's reorder point.
    pub(crate) async fn check_low_stock(
        &mut self,
        tx: &mut AnyConnection,
        loc: &Location,
        sku: &str,
        before: i64,
        after: i64,
    ) -> Result<()> {
        if after >= before {
            return Ok(());
        }
        let level: Option<(i64, i64)> = sqlx::query_as(
            "SELECT reorder_point, reorder_qty FROM stock_levels \
             WHERE org_id = $1 AND location_id = $2 AND sku = $3",
        )
        .bind(self.org.to_string())
        .bind(&loc.id)
        .bind(sku)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((point, reorder_qty)) = level
            && before >= point
            && after < point
        {
            self.emit(
                tx,
                "low_stock",
                About {
                    location_id: Some(loc.id.clone()),
                    sku: Some(sku.to_owned()),
                    ..About::default()
                },
                serde_json::json!({
                    "location_code": loc.code,
                    "available": after,
                    "reorder_point": point,
                    "reorder_qty": reorder_qty,
                }),
            )
            .await?;
        }
        Ok(())
    }

    /// Where the serial goes, and (checked) that it is where the movement takes it from.
    async fn move_serial(
        &mut self,
        tx: &mut AnyConnection,
        m: &Movement<'_>,
        serial: &str,
    ) -> Result<()> {
        let (state, location) = match m.to {
            Some((loc, Condition::Good)) => ("in_stock", Some(loc.id.clone())),
            Some((loc, Condition::Defective)) => ("defective", Some(loc.id.clone())),
            None => (
                match m.kind {
                    Kind::Consume | Kind::ConsumeReversal => "installed",
                    Kind::ReturnSupplier => "returned_to_supplier",
                    _ => "written_off",
                },
                None,
            ),
        };
        let r = &m.refs;
        let org = self.org.to_string();
        match (m.from, m.checked) {
            (Some((from, cond)), true) => {
                let expected = match cond {
                    Condition::Good => "in_stock",
                    Condition::Defective => "defective",
                };
                let moved = sqlx::query(
                    "UPDATE serials SET state = $4, location_id = $5, \
                     work_order_id = COALESCE($6, work_order_id), \
                     asset_id = COALESCE($7, asset_id), customer_id = COALESCE($8, customer_id), \
                     seq = $9, updated_at = $10 \
                     WHERE org_id = $1 AND sku = $2 AND serial = $3 AND location_id = $11 \
                     AND state = $12",
                )
                .bind(&org)
                .bind(&m.part.sku)
                .bind(serial)
                .bind(state)
                .bind(location)
                .bind(r.work_order_id.clone())
                .bind(r.asset_id.clone())
                .bind(r.customer_id.clone())
                .bind(self.seq)
                .bind(self.now)
                .bind(&from.id)
                .bind(expected)
                .execute(&mut *tx)
                .await?;
                if moved.rows_affected() != 1 {
                    return Err(InvError::SerialNotInLocation {
                        sku: m.part.sku.clone(),
                        serial: serial.to_owned(),
                        location: from.code.clone(),
                    });
                }
            }
            (from, checked) => {
                // Into stock from outside (checked: refused while the serial is in stock
                // somewhere), or a synced consumption: the physical fact wins.
                let guard = if checked && from.is_none() {
                    " WHERE serials.state NOT IN ('in_stock', 'defective')"
                } else {
                    ""
                };
                let done = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO serials (org_id, sku, serial, state, location_id, work_order_id, \
                     asset_id, customer_id, seq, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (org_id, sku, serial) DO UPDATE SET state = excluded.state, \
                     location_id = excluded.location_id, \
                     work_order_id = COALESCE(excluded.work_order_id, serials.work_order_id), \
                     asset_id = COALESCE(excluded.asset_id, serials.asset_id), \
                     customer_id = COALESCE(excluded.customer_id, serials.customer_id), \
                     seq = excluded.seq, updated_at = excluded.updated_at{guard}"
                )))
                .bind(&org)
                .bind(&m.part.sku)
                .bind(serial)
                .bind(state)
                .bind(location)
                .bind(r.work_order_id.clone())
                .bind(r.asset_id.clone())
                .bind(r.customer_id.clone())
                .bind(self.seq)
                .bind(self.now)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    let at: Option<String> = sqlx::query_scalar(
                        "SELECT l.code FROM serials s JOIN locations l \
                         ON l.org_id = s.org_id AND l.id = s.location_id \
                         WHERE s.org_id = $1 AND s.sku = $2 AND s.serial = $3",
                    )
                    .bind(&org)
                    .bind(&m.part.sku)
                    .bind(serial)
                    .fetch_optional(&mut *tx)
                    .await?;
                    return Err(InvError::SerialInStock {
                        sku: m.part.sku.clone(),
                        serial: serial.to_owned(),
                        location: at.unwrap_or_else(|| "another location".into()),
                    });
                }
            }
        }
        Ok(())
    }

    async fn insert(&self, tx: &mut AnyConnection, m: &Movement<'_>) -> Result<i64> {
        let r = &m.refs;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO stock_movements (org_id, seq, kind, sku, qty, unit_cost, from_location, \
             from_condition, to_location, to_condition, serial, work_order_id, line_id, \
             engineer_id, customer_id, asset_id, reservation_id, request_id, supplier, reference, \
             reason, note, actor_id, actor_role, at_ms, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18, $19, $20, $21, $22, $23, $24, $25, $26) RETURNING id",
        )
        .bind(self.org.to_string())
        .bind(self.seq)
        .bind(m.kind.as_str())
        .bind(&m.part.sku)
        .bind(m.qty)
        .bind(m.part.unit_cost_minor)
        .bind(m.from.map(|(l, _)| l.id.clone()))
        .bind(m.from.map(|(_, c)| c.as_str()))
        .bind(m.to.map(|(l, _)| l.id.clone()))
        .bind(m.to.map(|(_, c)| c.as_str()))
        .bind(m.serial.clone())
        .bind(r.work_order_id.clone())
        .bind(r.line_id.clone())
        .bind(r.engineer_id.clone())
        .bind(r.customer_id.clone())
        .bind(r.asset_id.clone())
        .bind(r.reservation_id.clone())
        .bind(r.request_id.clone())
        .bind(r.supplier.clone())
        .bind(r.reference.clone())
        .bind(r.reason.clone())
        .bind(r.note.clone())
        .bind(self.actor.user.map(|u| u.to_string()))
        .bind(self.actor.role.as_str())
        .bind(r.at_ms.unwrap_or(self.now))
        .bind(self.now)
        .fetch_one(&mut *tx)
        .await?;
        Ok(id)
    }
}

/// Add `delta` (signed) to one bucket of a balance, creating the row. Unchecked.
async fn change(
    tx: &mut AnyConnection,
    w: &Writer,
    loc: &Location,
    sku: &str,
    cond: Condition,
    delta: i64,
) -> Result<Balance> {
    let (qty, defective) = match cond {
        Condition::Good => (delta, 0),
        Condition::Defective => (0, delta),
    };
    let row = sqlx::query(
        "INSERT INTO stock_balances (org_id, location_id, sku, qty, defective, reserved, seq, \
         updated_at) VALUES ($1, $2, $3, $4, $5, 0, $6, $7) \
         ON CONFLICT (org_id, location_id, sku) DO UPDATE SET \
         qty = stock_balances.qty + excluded.qty, \
         defective = stock_balances.defective + excluded.defective, \
         seq = excluded.seq, updated_at = excluded.updated_at \
         RETURNING qty, defective, reserved",
    )
    .bind(w.org.to_string())
    .bind(&loc.id)
    .bind(sku)
    .bind(qty)
    .bind(defective)
    .bind(w.seq)
    .bind(w.now)
    .fetch_one(&mut *tx)
    .await?;
    Balance::from_row(&row)
}

/// The balance of one part at one location (zero if it never moved there).
pub async fn balance(
    conn: &mut AnyConnection,
    org: OrgId,
    location_id: &str,
    sku: &str,
) -> Result<Balance> {
    let row = sqlx::query(
        "SELECT qty, defective, reserved FROM stock_balances \
         WHERE org_id = $1 AND location_id = $2 AND sku = $3",
    )
    .bind(org.to_string())
    .bind(location_id)
    .bind(sku)
    .fetch_optional(conn)
    .await?;
    row.as_ref()
        .map(Balance::from_row)
        .transpose()
        .map(Option::unwrap_or_default)
}

/// One movement to post.
#[derive(Clone, Debug)]
pub struct Movement<'a> {
    pub kind: Kind,
    pub part: &'a Part,
    /// In the part's minor unit, > 0.
    pub qty: i64,
    pub from: Option<(&'a Location, Condition)>,
    pub to: Option<(&'a Location, Condition)>,
    /// For serial-tracked parts: the unit's serial number (qty 1).
    pub serial: Option<String>,
    /// The source must hold the stock (and the serial): true for everything a person posts;
    /// false only for consumption synced from a phone, which is a physical fact.
    pub checked: bool,
    pub refs: Refs,
}

/// What a movement refers to.
#[derive(Clone, Debug, Default)]
pub struct Refs {
    pub work_order_id: Option<String>,
    pub line_id: Option<String>,
    pub engineer_id: Option<String>,
    pub customer_id: Option<String>,
    pub asset_id: Option<String>,
    pub reservation_id: Option<String>,
    pub request_id: Option<String>,
    pub supplier: Option<String>,
    pub reference: Option<String>,
    pub reason: Option<String>,
    pub note: String,
    /// When it happened, if not now (a consumption line's time on the phone).
    pub at_ms: Option<i64>,
}

/// A posted movement: its id and the balances after it.
#[derive(Clone, Debug)]
pub struct Posted {
    pub id: i64,
    pub from_balance: Option<Balance>,
    pub to_balance: Option<Balance>,
}

/// A balance: good stock, defective units, reserved (part of the good stock).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Balance {
    pub qty: i64,
    pub defective: i64,
    pub reserved: i64,
}

impl Balance {
    fn from_row(r: &sqlx::any::AnyRow) -> Result<Balance> {
        Ok(Balance {
            qty: r.try_get("qty")?,
            defective: r.try_get("defective")?,
            reserved: r.try_get("reserved")?,
        })
    }

    /// Good stock not reserved.
    pub fn available(&self) -> i64 {
        self.qty - self.reserved
    }
}
