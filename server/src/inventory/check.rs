//! `lastmile inventory check`: recompute every balance from the ledger and compare.
//!
//! - good stock and defective units per (location, part): the sum of the movements in minus
//!   the movements out, by condition;
//! - reserved per (location, part): the sum of the active reservations;
//! - each serial number's state and location: what its last movement left it as;
//! - each consumption line: at most one `consume` and one `removal` movement.
//!
//! Any difference is a drift; there must be none (the command exits non-zero if there is).

use super::Result;
use serde::Serialize;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use std::collections::{BTreeMap, BTreeSet};
use sync_core::OrgId;

/// One difference between what is stored and what the ledger says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub org_id: String,
    /// A location id, or empty for a serial number or a line.
    pub location_id: String,
    pub sku: String,
    /// qty, defective, reserved, serial or line.
    pub what: String,
    pub stored: String,
    pub ledger: String,
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "org {} location {} part {}: {} stored {} but the ledger says {}",
            self.org_id, self.location_id, self.sku, self.what, self.stored, self.ledger
        )
    }
}

/// What a check looked at and found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub movements: i64,
    pub balances: usize,
    pub serials: usize,
    pub drifts: Vec<Drift>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.drifts.is_empty()
    }
}

type Key = (String, String, String); // org, location, sku

/// Check one organisation, or every one.
pub async fn run(conn: &mut AnyConnection, org: Option<OrgId>) -> crate::Result<Report> {
    Ok(check(conn, org).await?)
}

async fn check(conn: &mut AnyConnection, org: Option<OrgId>) -> Result<Report> {
    let (filter, filter_m) = match org {
        Some(_) => (" AND org_id = $1", " AND m.org_id = $1"),
        None => ("", ""),
    };
    let bind = |sql: String| {
        let q = sqlx::query(AssertSqlSafe(sql));
        match org {
            Some(o) => q.bind(o.to_string()),
            None => q,
        }
    };
    let movements: i64 = bind(format!(
        "SELECT COUNT(*) AS n FROM stock_movements WHERE 1 = 1{filter}"
    ))
    .fetch_one(&mut *conn)
    .await?
    .try_get("n")?;
    let mut report = Report {
        movements,
        ..Report::default()
    };

    // (good, defective, reserved) per key, from the ledger and as stored.
    let mut ledger: BTreeMap<Key, (i64, i64, i64)> = BTreeMap::new();
    for r in bind(format!(
        "SELECT org_id, loc, sku, CAST(SUM(good) AS BIGINT) AS good, \
         CAST(SUM(bad) AS BIGINT) AS bad FROM ( \
           SELECT org_id, to_location AS loc, sku, \
             CASE WHEN to_condition = 'good' THEN qty ELSE 0 END AS good, \
             CASE WHEN to_condition = 'defective' THEN qty ELSE 0 END AS bad \
           FROM stock_movements WHERE to_location IS NOT NULL{filter} \
           UNION ALL \
           SELECT org_id, from_location AS loc, sku, \
             CASE WHEN from_condition = 'good' THEN -qty ELSE 0 END AS good, \
             CASE WHEN from_condition = 'defective' THEN -qty ELSE 0 END AS bad \
           FROM stock_movements WHERE from_location IS NOT NULL{filter} \
         ) t GROUP BY org_id, loc, sku"
    ))
    .fetch_all(&mut *conn)
    .await?
    {
        let e = ledger
            .entry((r.try_get("org_id")?, r.try_get("loc")?, r.try_get("sku")?))
            .or_default();
        e.0 = r.try_get("good")?;
        e.1 = r.try_get("bad")?;
    }
    for r in bind(format!(
        "SELECT org_id, location_id, sku, CAST(SUM(qty) AS BIGINT) AS held FROM reservations \
         WHERE status = 'active'{filter} GROUP BY org_id, location_id, sku"
    ))
    .fetch_all(&mut *conn)
    .await?
    {
        ledger
            .entry((
                r.try_get("org_id")?,
                r.try_get("location_id")?,
                r.try_get("sku")?,
            ))
            .or_default()
            .2 = r.try_get("held")?;
    }
    let mut stored: BTreeMap<Key, (i64, i64, i64)> = BTreeMap::new();
    for r in bind(format!(
        "SELECT org_id, location_id, sku, qty, defective, reserved FROM stock_balances \
         WHERE 1 = 1{filter}"
    ))
    .fetch_all(&mut *conn)
    .await?
    {
        stored.insert(
            (
                r.try_get("org_id")?,
                r.try_get("location_id")?,
                r.try_get("sku")?,
            ),
            (
                r.try_get("qty")?,
                r.try_get("defective")?,
                r.try_get("reserved")?,
            ),
        );
    }
    report.balances = stored.len();
    let keys: BTreeSet<&Key> = ledger.keys().chain(stored.keys()).collect();
    for key in keys {
        let l = ledger.get(key).copied().unwrap_or_default();
        let s = stored.get(key).copied().unwrap_or_default();
        for (what, a, b) in [
            ("qty", s.0, l.0),
            ("defective", s.1, l.1),
            ("reserved", s.2, l.2),
        ] {
            if a != b {
                report.drifts.push(Drift {
                    org_id: key.0.clone(),
                    location_id: key.1.clone(),
                    sku: key.2.clone(),
                    what: what.into(),
                    stored: a.to_string(),
                    ledger: b.to_string(),
                });
            }
        }
    }

    // Serial numbers: the state their last movement left them in.
    type SerialKey = (String, String, String); // org, sku, serial
    let mut last: BTreeMap<SerialKey, (String, Option<String>)> = BTreeMap::new();
    for r in bind(format!(
        "SELECT m.org_id, m.sku, m.serial, m.kind, m.to_location, m.to_condition \
         FROM stock_movements m WHERE m.serial IS NOT NULL{filter_m} ORDER BY m.id"
    ))
    .fetch_all(&mut *conn)
    .await?
    {
        let kind: String = r.try_get("kind")?;
        let to: Option<String> = r.try_get("to_location")?;
        let cond: Option<String> = r.try_get("to_condition")?;
        let state = match (cond.as_deref(), kind.as_str()) {
            (Some("good"), _) => "in_stock",
            (Some(_), _) => "defective",
            (None, "consume" | "consume_reversal") => "installed",
            (None, "return_supplier") => "returned_to_supplier",
            (None, _) => "written_off",
        };
        last.insert(
            (
                r.try_get("org_id")?,
                r.try_get("sku")?,
                r.try_get("serial")?,
            ),
            (state.to_owned(), to),
        );
    }
    let mut serials: BTreeMap<SerialKey, (String, Option<String>)> = BTreeMap::new();
    for r in bind(format!(
        "SELECT org_id, sku, serial, state, location_id FROM serials WHERE 1 = 1{filter}"
    ))
    .fetch_all(&mut *conn)
    .await?
    {
        serials.insert(
            (
                r.try_get("org_id")?,
                r.try_get("sku")?,
                r.try_get("serial")?,
            ),
            (r.try_get("state")?, r.try_get("location_id")?),
        );
    }
    report.serials = serials.len();
    let keys: BTreeSet<&SerialKey> = last.keys().chain(serials.keys()).collect();
    let show = |v: Option<&(String, Option<String>)>| match v {
        None => "nothing".to_owned(),
        Some((state, loc)) => format!("{state} at {}", loc.as_deref().unwrap_or("-")),
    };
    for key in keys {
        let (l, s) = (last.get(key), serials.get(key));
        if l != s {
            report.drifts.push(Drift {
                org_id: key.0.clone(),
                location_id: String::new(),
                sku: key.1.clone(),
                what: format!("serial {}", key.2),
                stored: show(s),
                ledger: show(l),
            });
        }
    }

    // Every consumption line posted at most once.
    for r in bind(format!(
        "SELECT org_id, line_id, kind, MAX(sku) AS sku, COUNT(*) AS n FROM stock_movements \
         WHERE line_id IS NOT NULL AND kind IN ('consume', 'removal'){filter} \
         GROUP BY org_id, line_id, kind HAVING COUNT(*) > 1"
    ))
    .fetch_all(&mut *conn)
    .await?
    {
        let line: String = r.try_get("line_id")?;
        let kind: String = r.try_get("kind")?;
        report.drifts.push(Drift {
            org_id: r.try_get("org_id")?,
            location_id: String::new(),
            sku: r.try_get("sku")?,
            what: format!("line {line}"),
            stored: format!("{} {kind} movements", r.try_get::<i64, _>("n")?),
            ledger: "1".into(),
        });
    }
    Ok(report)
}
