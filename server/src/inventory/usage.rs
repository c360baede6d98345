//! The consumption report: parts used at work orders, net of voided lines, by part, engineer,
//! customer, work order or period (one grouped query over the ledger's `consume` and
//! `consume_reversal` movements, index `stock_movements_by_kind`).

use super::catalog::{Arg, Where};
use super::{InvError, Result};
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use std::collections::BTreeMap;
use sync_core::OrgId;
use utoipa::ToSchema;

/// Consumption report parameters.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsumptionQuery {
    /// part (default), engineer, customer, work_order or period.
    pub group_by: Option<String>,
    /// With group_by=period: day (default), week (from Monday) or month.
    pub period: Option<String>,
    /// Minutes east of UTC for period boundaries (480 for China); default 0.
    pub tz_offset_minutes: Option<i64>,
    /// Consumed at or after (UTC ms).
    pub from_ms: Option<i64>,
    /// Consumed before (UTC ms).
    pub to_ms: Option<i64>,
    pub sku: Option<String>,
    pub engineer_id: Option<String>,
    pub customer_id: Option<String>,
}

/// One group of the consumption report. Voided lines are netted out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConsumptionRow {
    /// The SKU, engineer id, customer id, work order id, or the period's first day
    /// (YYYY-MM-DD).
    pub key: String,
    /// The part's name, engineer's name, customer's name, order number, or the period.
    pub label: String,
    /// Net quantity consumed (minor units; a mix of units when grouped by anything but part).
    pub qty: i64,
    /// Net value at the cost when each part moved, minor currency units.
    pub value_minor: i64,
    /// Consumption movements counted (before netting voids).
    pub lines: i64,
}

/// Consumption report: net quantity and value per group, largest value first (periods in
/// time order).
pub async fn consumption(
    conn: &mut AnyConnection,
    org: OrgId,
    q: &ConsumptionQuery,
) -> Result<Vec<ConsumptionRow>> {
    let group = q.group_by.as_deref().unwrap_or("part");
    let offset_ms = q.tz_offset_minutes.unwrap_or(0).clamp(-14 * 60, 14 * 60) * 60_000;
    let (key, label, join) = match group {
        "part" => ("m.sku".to_owned(), "MAX(p.name)", ""),
        "engineer" => (
            "m.engineer_id".to_owned(),
            "MAX(u.name)",
            "LEFT JOIN users u ON u.org_id = m.org_id AND u.id = m.engineer_id",
        ),
        "customer" => (
            "m.customer_id".to_owned(),
            "MAX(c.name)",
            "LEFT JOIN customers c ON c.org_id = m.org_id AND c.id = m.customer_id",
        ),
        "work_order" => (
            "m.work_order_id".to_owned(),
            "MAX(w.number)",
            "LEFT JOIN work_orders w ON w.org_id = m.org_id AND w.id = m.work_order_id",
        ),
        "period" => (
            format!("(m.at_ms + {offset_ms}) / 86400000"),
            "MIN(m.at_ms)",
            "",
        ),
        other => {
            return Err(InvError::Invalid(format!(
                "unknown group_by {other:?}: part, engineer, customer, work_order or period"
            )));
        }
    };
    let period = q.period.as_deref().unwrap_or("day");
    if !matches!(period, "day" | "week" | "month") {
        return Err(InvError::Invalid(format!(
            "unknown period {period:?}: day, week or month"
        )));
    }
    let mut w = Where::new(org, "m.org_id");
    w.and("m.kind IN ('consume', 'consume_reversal')", []);
    if let Some(t) = q.from_ms {
        w.and("m.at_ms >= ?", [Arg::Int(t)]);
    }
    if let Some(t) = q.to_ms {
        w.and("m.at_ms < ?", [Arg::Int(t)]);
    }
    for (col, v) in [
        ("m.sku", &q.sku),
        ("m.engineer_id", &q.engineer_id),
        ("m.customer_id", &q.customer_id),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            w.and(&format!("{col} = ?"), [Arg::Text(v.trim().to_owned())]);
        }
    }
    // A consumption counts +qty; the reversal of one (back into a van) -qty. The reversal of a
    // removal (out of a van's defective units) is no consumption. Quantities are in minor
    // units and costs per unit: the value divides by the unit's minor units per unit.
    let signed = "CASE WHEN m.kind = 'consume' THEN m.qty \
                  WHEN m.to_location IS NOT NULL THEN -m.qty ELSE 0 END";
    let scale = scale_sql("p.unit");
    let rows = w
        .bind(sqlx::query(AssertSqlSafe(format!(
            "SELECT {key} AS k, {label} AS label, \
             CAST(SUM({signed}) AS BIGINT) AS qty, \
             CAST(SUM(({signed}) * m.unit_cost / {scale}) AS BIGINT) AS value, \
             CAST(SUM(CASE WHEN m.kind = 'consume' THEN 1 ELSE 0 END) AS BIGINT) AS lines \
             FROM stock_movements m \
             LEFT JOIN parts p ON p.org_id = m.org_id AND p.sku = m.sku {join} \
             WHERE {} GROUP BY {key}",
            w.sql
        ))))
        .fetch_all(conn)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    if group == "period" {
        let mut buckets: BTreeMap<i64, ConsumptionRow> = BTreeMap::new();
        for r in &rows {
            let day: i64 = r.try_get("k")?;
            let start = match period {
                "week" => day - (day + 3).rem_euclid(7),
                "month" => {
                    let (y, m, _) = civil_from_days(day);
                    days_from_civil(y, m, 1)
                }
                _ => day,
            };
            let (y, m, d) = civil_from_days(start);
            let e = buckets.entry(start).or_insert_with(|| ConsumptionRow {
                key: format!("{y:04}-{m:02}-{d:02}"),
                label: match period {
                    "month" => format!("{y:04}-{m:02}"),
                    "week" => format!("week of {y:04}-{m:02}-{d:02}"),
                    _ => format!("{y:04}-{m:02}-{d:02}"),
                },
                qty: 0,
                value_minor: 0,
                lines: 0,
            });
            e.qty += r.try_get::<i64, _>("qty")?;
            e.value_minor += r.try_get::<i64, _>("value")?;
            e.lines += r.try_get::<i64, _>("lines")?;
        }
        out.extend(buckets.into_values());
    } else {
        for r in &rows {
            let key: Option<String> = r.try_get("k")?;
            let label: Option<String> = r.try_get("label")?;
            let key = key.unwrap_or_default();
            out.push(ConsumptionRow {
                label: label.unwrap_or_else(|| key.clone()),
                key,
                qty: r.try_get("qty")?,
                value_minor: r.try_get("value")?,
                lines: r.try_get("lines")?,
            });
        }
        out.sort_by(|a, b| b.value_minor.cmp(&a.value_minor).then(a.key.cmp(&b.key)));
    }
    Ok(out)
}

/// SQL for the minor units per unit of the unit in `column` (see [`super::UNITS`]).
fn scale_sql(column: &str) -> String {
    let big: Vec<String> = super::UNITS
        .iter()
        .filter(|(_, n)| *n != 1)
        .map(|(u, _)| format!("'{u}'"))
        .collect();
    format!(
        "(CASE WHEN {column} IN ({}) THEN 1000 ELSE 1 END)",
        big.join(", ")
    )
}

/// (year, month, day) of a day number (days since 1970-01-01), proleptic Gregorian.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The day number of a date (inverse of [`civil_from_days`]).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        // 2026-11-24 is day 20,416; a Tuesday, so its week starts on the 23rd.
        let d = days_from_civil(2026, 11, 24);
        assert_eq!(civil_from_days(d), (2026, 11, 24));
        let monday = d - (d + 3).rem_euclid(7);
        assert_eq!(civil_from_days(monday), (2026, 11, 23));
        for day in -1000..30_000 {
            let (y, m, dd) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, dd), day);
        }
    }
}
