//! What the warehouse reads: stock by location, movements and the low-stock list (the
//! consumption report is in `usage.rs`, serial histories in `serials.rs`). Every list is one
//! indexed query (named in `migrations/*/0003_inventory.sql`).

use super::catalog::{self, Arg, Where};
use super::locations;
use super::{InvError, Kind, Result};

fn minor_per_unit(unit: &str) -> i64 {
    super::minor_per_unit(unit).unwrap_or(1)
}
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use std::collections::HashMap;
use sync_core::OrgId;
use utoipa::ToSchema;

// ----- stock -----

/// One part at one location.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StockLine {
    pub location_id: String,
    pub location_code: String,
    /// warehouse, quarantine or van.
    pub location_kind: String,
    pub sku: String,
    pub name: String,
    pub unit: String,
    /// Good stock (negative at a van when consumption outran the ledger).
    pub qty: i64,
    /// Defective units held (removed parts, returns awaiting the supplier).
    pub defective: i64,
    pub reserved: i64,
    /// qty - reserved: what can be issued.
    pub available: i64,
    pub reorder_point: Option<i64>,
    pub reorder_qty: Option<i64>,
    /// qty x unit cost (per unit, so divided by the minor units per unit), in minor
    /// currency units.
    pub value_minor: i64,
    /// Serial numbers in good stock here (serial-tracked parts).
    pub serials: Vec<String>,
    /// Serial numbers of the defective units here.
    pub defective_serials: Vec<String>,
}

/// Stock filters.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StockFilter {
    /// A location id or code.
    pub location: Option<String>,
    /// warehouse, quarantine or van.
    pub kind: Option<String>,
    pub sku: Option<String>,
    /// Words in the SKU or the part's name.
    pub q: Option<String>,
    /// Include lines at zero (default false).
    pub include_zero: Option<bool>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Stock lines by location code and SKU: the total and one page. `only_location` (an
/// engineer's van) overrides the location filter.
pub async fn stock(
    conn: &mut AnyConnection,
    org: OrgId,
    f: &StockFilter,
    only_location: Option<&str>,
) -> Result<(i64, Vec<StockLine>)> {
    let mut w = Where::new(org, "b.org_id");
    if let Some(l) = only_location {
        w.and("b.location_id = ?", [Arg::Text(l.to_owned())]);
    } else if let Some(l) = f.location.as_deref().filter(|s| !s.is_empty()) {
        let loc = locations::resolve(conn, org, l).await?;
        w.and("b.location_id = ?", [Arg::Text(loc.id)]);
    }
    if let Some(k) = f.kind.as_deref().filter(|s| !s.is_empty()) {
        if locations::LocationKind::parse(k).is_none() {
            return Err(InvError::Invalid(format!("unknown location kind {k:?}")));
        }
        w.and("l.kind = ?", [Arg::Text(k.to_owned())]);
    }
    if let Some(s) = f.sku.as_deref().filter(|s| !s.is_empty()) {
        w.and("b.sku = ?", [Arg::Text(s.trim().to_owned())]);
    }
    if let Some(q) = f.q.as_deref().filter(|q| !q.trim().is_empty()) {
        w.words(q, &["p.sku", "p.name"]);
    }
    if !f.include_zero.unwrap_or(false) {
        w.and("(b.qty <> 0 OR b.defective <> 0 OR b.reserved <> 0)", []);
    }
    let from = "FROM stock_balances b \
                JOIN parts p ON p.org_id = b.org_id AND p.sku = b.sku \
                JOIN locations l ON l.org_id = b.org_id AND l.id = b.location_id \
                LEFT JOIN stock_levels s ON s.org_id = b.org_id AND s.location_id = b.location_id \
                AND s.sku = b.sku";
    let (limit, offset) = catalog::page(f.limit, f.offset);
    let total: i64 = w
        .bind_scalar(sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) {from} WHERE {}",
            w.sql
        ))))
        .fetch_one(&mut *conn)
        .await?;
    let rows = w
        .bind(sqlx::query(AssertSqlSafe(format!(
            "SELECT b.location_id, l.code, l.kind, b.sku, p.name, p.unit, p.unit_cost, \
             p.serial_tracked, b.qty, b.defective, b.reserved, s.reorder_point, s.reorder_qty \
             {from} WHERE {} ORDER BY l.code, b.sku LIMIT {limit} OFFSET {offset}",
            w.sql
        ))))
        .fetch_all(&mut *conn)
        .await?;
    let mut lines = Vec::with_capacity(rows.len());
    let mut tracked_locations: Vec<String> = Vec::new();
    for r in &rows {
        let qty: i64 = r.try_get("qty")?;
        let reserved: i64 = r.try_get("reserved")?;
        let unit_cost: i64 = r.try_get("unit_cost")?;
        let location_id: String = r.try_get("location_id")?;
        let unit: String = r.try_get("unit")?;
        let value_minor = qty.saturating_mul(unit_cost) / minor_per_unit(&unit);
        if r.try_get::<i64, _>("serial_tracked")? != 0 && !tracked_locations.contains(&location_id)
        {
            tracked_locations.push(location_id.clone());
        }
        lines.push(StockLine {
            location_id,
            location_code: r.try_get("code")?,
            location_kind: r.try_get("kind")?,
            sku: r.try_get("sku")?,
            name: r.try_get("name")?,
            unit,
            qty,
            defective: r.try_get("defective")?,
            reserved,
            available: qty - reserved,
            reorder_point: r.try_get("reorder_point")?,
            reorder_qty: r.try_get("reorder_qty")?,
            value_minor,
            serials: Vec::new(),
            defective_serials: Vec::new(),
        });
    }
    if !tracked_locations.is_empty() {
        let placeholders: Vec<String> = (0..tracked_locations.len())
            .map(|i| format!("${}", i + 2))
            .collect();
        let mut q = sqlx::query(AssertSqlSafe(format!(
            "SELECT location_id, sku, serial, state FROM serials WHERE org_id = $1 \
             AND location_id IN ({}) ORDER BY serial",
            placeholders.join(", ")
        )))
        .bind(org.to_string());
        for l in &tracked_locations {
            q = q.bind(l.clone());
        }
        let mut by_line: HashMap<(String, String), (Vec<String>, Vec<String>)> = HashMap::new();
        for r in q.fetch_all(&mut *conn).await? {
            let state: String = r.try_get("state")?;
            let e = by_line
                .entry((r.try_get("location_id")?, r.try_get("sku")?))
                .or_default();
            let serial: String = r.try_get("serial")?;
            match state.as_str() {
                "in_stock" => e.0.push(serial),
                "defective" => e.1.push(serial),
                _ => {}
            }
        }
        for l in &mut lines {
            if let Some((good, bad)) = by_line.remove(&(l.location_id.clone(), l.sku.clone())) {
                l.serials = good;
                l.defective_serials = bad;
            }
        }
    }
    Ok((total, lines))
}

// ----- movements -----

/// One movement of the ledger, with the codes of its locations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MovementRow {
    pub id: i64,
    pub seq: i64,
    pub kind: Kind,
    pub sku: String,
    pub qty: i64,
    pub unit_cost_minor: i64,
    pub from_location_id: Option<String>,
    pub from_location_code: Option<String>,
    pub from_condition: Option<String>,
    pub to_location_id: Option<String>,
    pub to_location_code: Option<String>,
    pub to_condition: Option<String>,
    pub serial: Option<String>,
    pub work_order_id: Option<String>,
    pub work_order_number: Option<String>,
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
    /// Who recorded it (none: the system, posting a synced line).
    pub actor_id: Option<String>,
    pub actor_role: String,
    /// When it happened (for consumption: the phone's time).
    pub at_ms: i64,
    pub created_at_ms: i64,
}

impl MovementRow {
    pub(crate) fn from_row(r: &AnyRow) -> Result<MovementRow> {
        let kind: String = r.try_get("kind")?;
        Ok(MovementRow {
            id: r.try_get("id")?,
            seq: r.try_get("seq")?,
            kind: Kind::parse(&kind)
                .ok_or_else(|| InvError::Invalid(format!("stored movement kind {kind:?}")))?,
            sku: r.try_get("sku")?,
            qty: r.try_get("qty")?,
            unit_cost_minor: r.try_get("unit_cost")?,
            from_location_id: r.try_get("from_location")?,
            from_location_code: r.try_get("from_code")?,
            from_condition: r.try_get("from_condition")?,
            to_location_id: r.try_get("to_location")?,
            to_location_code: r.try_get("to_code")?,
            to_condition: r.try_get("to_condition")?,
            serial: r.try_get("serial")?,
            work_order_id: r.try_get("work_order_id")?,
            work_order_number: r.try_get("number")?,
            line_id: r.try_get("line_id")?,
            engineer_id: r.try_get("engineer_id")?,
            customer_id: r.try_get("customer_id")?,
            asset_id: r.try_get("asset_id")?,
            reservation_id: r.try_get("reservation_id")?,
            request_id: r.try_get("request_id")?,
            supplier: r.try_get("supplier")?,
            reference: r.try_get("reference")?,
            reason: r.try_get("reason")?,
            note: r.try_get("note")?,
            actor_id: r.try_get("actor_id")?,
            actor_role: r.try_get("actor_role")?,
            at_ms: r.try_get("at_ms")?,
            created_at_ms: r.try_get("created_at")?,
        })
    }
}

pub(crate) const MOVEMENT_SELECT: &str = "SELECT m.id, m.seq, m.kind, m.sku, m.qty, m.unit_cost, \
    m.from_location, fl.code AS from_code, m.from_condition, m.to_location, tl.code AS to_code, \
    m.to_condition, m.serial, m.work_order_id, w.number, m.line_id, m.engineer_id, \
    m.customer_id, m.asset_id, m.reservation_id, m.request_id, m.supplier, m.reference, \
    m.reason, m.note, m.actor_id, m.actor_role, m.at_ms, m.created_at \
    FROM stock_movements m \
    LEFT JOIN locations fl ON fl.org_id = m.org_id AND fl.id = m.from_location \
    LEFT JOIN locations tl ON tl.org_id = m.org_id AND tl.id = m.to_location \
    LEFT JOIN work_orders w ON w.org_id = m.org_id AND w.id = m.work_order_id";

/// Movement filters.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MovementFilter {
    /// Comma-separated kinds, e.g. `issue,return_good`.
    pub kind: Option<String>,
    /// Movements into or out of this location (id or code).
    pub location: Option<String>,
    pub sku: Option<String>,
    pub work_order_id: Option<String>,
    pub engineer_id: Option<String>,
    pub serial: Option<String>,
    /// The consumption line a movement posts.
    pub line_id: Option<String>,
    /// Happened at or after (UTC ms).
    pub from_ms: Option<i64>,
    /// Happened before (UTC ms).
    pub to_ms: Option<i64>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Movements, newest first: the total and one page. `only_location` (an engineer's van)
/// overrides the location filter.
pub async fn movements(
    conn: &mut AnyConnection,
    org: OrgId,
    f: &MovementFilter,
    only_location: Option<&str>,
) -> Result<(i64, Vec<MovementRow>)> {
    let mut w = Where::new(org, "m.org_id");
    let location = match (
        only_location,
        f.location.as_deref().filter(|s| !s.is_empty()),
    ) {
        (Some(l), _) => Some(l.to_owned()),
        (None, Some(l)) => Some(locations::resolve(conn, org, l).await?.id),
        (None, None) => None,
    };
    if let Some(l) = location {
        w.and(
            "(m.from_location = ? OR m.to_location = ?)",
            [Arg::Text(l.clone()), Arg::Text(l)],
        );
    }
    if let Some(kinds) = f.kind.as_deref().filter(|s| !s.is_empty()) {
        let mut args = Vec::new();
        for k in kinds.split(',') {
            let k = k.trim();
            if Kind::parse(k).is_none() {
                return Err(InvError::Invalid(format!("unknown movement kind {k:?}")));
            }
            args.push(Arg::Text(k.to_owned()));
        }
        let marks = vec!["?"; args.len()].join(", ");
        w.and(&format!("m.kind IN ({marks})"), args);
    }
    for (col, v) in [
        ("m.sku", &f.sku),
        ("m.work_order_id", &f.work_order_id),
        ("m.engineer_id", &f.engineer_id),
        ("m.serial", &f.serial),
        ("m.line_id", &f.line_id),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            w.and(&format!("{col} = ?"), [Arg::Text(v.trim().to_owned())]);
        }
    }
    if let Some(t) = f.from_ms {
        w.and("m.at_ms >= ?", [Arg::Int(t)]);
    }
    if let Some(t) = f.to_ms {
        w.and("m.at_ms < ?", [Arg::Int(t)]);
    }
    let (limit, offset) = catalog::page(f.limit, f.offset);
    let total: i64 = w
        .bind_scalar(sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM stock_movements m WHERE {}",
            w.sql
        ))))
        .fetch_one(&mut *conn)
        .await?;
    let rows = w
        .bind(sqlx::query(AssertSqlSafe(format!(
            "{MOVEMENT_SELECT} WHERE {} ORDER BY m.id DESC LIMIT {limit} OFFSET {offset}",
            w.sql
        ))))
        .fetch_all(&mut *conn)
        .await?;
    let items = rows
        .iter()
        .map(MovementRow::from_row)
        .collect::<Result<_>>()?;
    Ok((total, items))
}

// ----- low stock -----

/// A part below its reorder point at a location.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LowStockLine {
    pub location_id: String,
    pub location_code: String,
    pub location_kind: String,
    pub sku: String,
    pub name: String,
    pub unit: String,
    pub qty: i64,
    pub reserved: i64,
    pub available: i64,
    pub reorder_point: i64,
    pub reorder_qty: i64,
    /// What to order: the reorder quantity, or more if that would not reach the point.
    pub suggested_qty: i64,
}

/// Parts whose available stock (balance minus reservations) is below the reorder point, by
/// location code and SKU; optionally at one location (id or code).
pub async fn low_stock(
    conn: &mut AnyConnection,
    org: OrgId,
    location: Option<&str>,
) -> Result<Vec<LowStockLine>> {
    let mut w = Where::new(org, "s.org_id");
    if let Some(l) = location.filter(|s| !s.is_empty()) {
        let loc = locations::resolve(conn, org, l).await?;
        w.and("s.location_id = ?", [Arg::Text(loc.id)]);
    }
    let rows = w
        .bind(sqlx::query(AssertSqlSafe(format!(
            "SELECT s.location_id, l.code, l.kind, s.sku, p.name, p.unit, s.reorder_point, \
             s.reorder_qty, COALESCE(b.qty, 0) AS qty, COALESCE(b.reserved, 0) AS reserved \
             FROM stock_levels s \
             JOIN locations l ON l.org_id = s.org_id AND l.id = s.location_id \
             JOIN parts p ON p.org_id = s.org_id AND p.sku = s.sku \
             LEFT JOIN stock_balances b ON b.org_id = s.org_id \
             AND b.location_id = s.location_id AND b.sku = s.sku \
             WHERE {} AND p.withdrawn = 0 \
             AND COALESCE(b.qty, 0) - COALESCE(b.reserved, 0) < s.reorder_point \
             ORDER BY l.code, s.sku",
            w.sql
        ))))
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            let qty: i64 = r.try_get("qty")?;
            let reserved: i64 = r.try_get("reserved")?;
            let point: i64 = r.try_get("reorder_point")?;
            let reorder_qty: i64 = r.try_get("reorder_qty")?;
            let available = qty - reserved;
            Ok(LowStockLine {
                location_id: r.try_get("location_id")?,
                location_code: r.try_get("code")?,
                location_kind: r.try_get("kind")?,
                sku: r.try_get("sku")?,
                name: r.try_get("name")?,
                unit: r.try_get("unit")?,
                qty,
                reserved,
                available,
                reorder_point: point,
                reorder_qty,
                suggested_qty: reorder_qty.max(point - available),
            })
        })
        .collect()
}

/// Set the reorder point and quantity of a part at a location.
pub async fn set_level(
    tx: &mut AnyConnection,
    org: OrgId,
    location_id: &str,
    sku: &str,
    reorder_point: i64,
    reorder_qty: i64,
) -> Result<()> {
    if reorder_point < 0 || reorder_qty < 0 {
        return Err(InvError::InvalidQuantity(
            "reorder point and quantity cannot be negative".into(),
        ));
    }
    sqlx::query(
        "INSERT INTO stock_levels (org_id, location_id, sku, reorder_point, reorder_qty) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id, location_id, sku) DO UPDATE SET \
         reorder_point = excluded.reorder_point, reorder_qty = excluded.reorder_qty",
    )
    .bind(org.to_string())
    .bind(location_id)
    .bind(sku)
    .bind(reorder_point)
    .bind(reorder_qty)
    .execute(tx)
    .await?;
    Ok(())
}
