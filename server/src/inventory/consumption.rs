//! Posting consumption synced from phones to the ledger: every line of a work-order document
//! exactly once, whatever the replays (invariant 4).
//!
//! [`post_consumption`] runs in the transaction that stores the merged document (the sync
//! endpoint calls it right after `docstore::save`). Each line not yet in `posted_lines` is
//! claimed there first (the line id is the primary key, so a line is claimed once), then:
//!
//! - a normal line is a `consume` movement from the van of the line's engineer, never refused:
//!   a van that goes negative, a serial that was not in the van, opens a discrepancy;
//! - a serial-tracked part records where the serial was installed (work order, customer,
//!   asset), and the serial it replaced is taken into the van as defective (`removal`), ready to
//!   be returned to quarantine and the supplier;
//! - a void line posts the reverse of every movement of the line it voids (`consume_reversal`),
//!   once, however many devices voided it concurrently;
//! - a line naming a part the catalog lacks is recorded (`held`) with an `unknown_sku`
//!   discrepancy: the field record is never lost, and resolving the discrepancy with the right
//!   SKU posts it.

use super::catalog::{self, Part};
use super::discrepancies::{self, DiscrepancyKind, Source};
use super::events::InventoryEvent;
use super::ledger::{Movement, Refs, Writer};
use super::locations::{self, Location};
use super::{Actor, Condition, Kind, Result};
use sqlx::{AnyConnection, Row};
use std::collections::HashSet;
use sync_core::workorder::{ConsumptionLine, Header, PartsRequest};
use sync_core::{DocId, OrgId, UserId, VisitId, WorkOrderDoc};

/// What the parts ledger reads from a work order: its consumption lines, parts requests,
/// status and site. Reading it is CPU work on the document, so the sync endpoint does it before
/// it takes the write lock; [`post`] is then only SQL.
#[derive(Clone, Debug)]
pub struct OrderParts {
    id: DocId,
    terminal: bool,
    site: Site,
    lines: Vec<(VisitId, ConsumptionLine)>,
    requests: Vec<PartsRequest>,
}

impl OrderParts {
    /// Read what the ledger needs from `doc` (not the event log nor the rest of the visits).
    pub fn read(doc: &WorkOrderDoc) -> sync_core::Result<OrderParts> {
        Ok(OrderParts {
            id: doc.id()?,
            terminal: doc.status().is_terminal(),
            site: Site::of(&doc.header()?),
            lines: doc.consumption_lines(),
            requests: doc.parts_requests(),
        })
    }
}

/// Post every consumption line of `doc` that is not posted yet, and project its parts requests.
/// `seq` is the transaction's change sequence number (from `docstore::begin_write`, which the
/// caller took). Fails only on a database error: a line that cannot be posted cleanly is
/// recorded with a discrepancy instead. Returns the events raised.
pub async fn post_consumption(
    tx: &mut AnyConnection,
    org: OrgId,
    doc: &WorkOrderDoc,
    seq: i64,
) -> crate::Result<Vec<InventoryEvent>> {
    match OrderParts::read(doc) {
        Ok(parts) => post(tx, org, &parts, seq).await,
        Err(e) => {
            // A document the server stored but cannot read has nothing it can post; the sync
            // goes on, and the next change of the document tries again.
            tracing::error!(error = %e, "cannot read a work order to post its consumption");
            Ok(Vec::new())
        }
    }
}

/// [`post_consumption`] of what was read from the document beforehand.
pub async fn post(
    tx: &mut AnyConnection,
    org: OrgId,
    parts: &OrderParts,
    seq: i64,
) -> crate::Result<Vec<InventoryEvent>> {
    let mut w = Writer::resume(org, seq, Actor::system());
    post_document(tx, &mut w, parts).await?;
    Ok(w.events)
}

async fn post_document(tx: &mut AnyConnection, w: &mut Writer, order: &OrderParts) -> Result<()> {
    super::requests::project(tx, w, order.id, &order.requests).await?;
    let wo = order.id.to_string();
    let done: HashSet<String> = sqlx::query_scalar(
        "SELECT line_id FROM posted_lines WHERE org_id = $1 AND work_order_id = $2",
    )
    .bind(w.org.to_string())
    .bind(&wo)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let mut new: Vec<(VisitId, &ConsumptionLine)> = order
        .lines
        .iter()
        .map(|(v, l)| (*v, l))
        .filter(|(_, l)| !done.contains(&l.id.to_string()))
        .collect();
    // Lines before the void lines that cancel them; then in causal order.
    new.sort_by(|(_, a), (_, b)| {
        (a.voids.is_some(), a.hlc, a.id).cmp(&(b.voids.is_some(), b.hlc, b.id))
    });
    for (visit, line) in new {
        post_line(tx, w, order, visit, line).await?;
    }
    if order.terminal {
        // The order's reservations end with it (its projection row is already written).
        super::reservations::sweep(tx, w).await?;
    }
    Ok(())
}

/// What became of a line.
enum Outcome {
    Posted(String),
    Held(String),
    Skipped(String),
}

async fn post_line(
    tx: &mut AnyConnection,
    w: &mut Writer,
    order: &OrderParts,
    visit: VisitId,
    line: &ConsumptionLine,
) -> Result<()> {
    let org = w.org.to_string();
    let line_id = line.id.to_string();
    let wo = order.id.to_string();
    let engineer = line.engineer.to_string();
    let claimed = sqlx::query(
        "INSERT INTO posted_lines (org_id, line_id, work_order_id, visit_id, sku, qty, serial, \
         replaced_serial, engineer_id, at_ms, voids, status, seq, posted_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'held', $12, $13) \
         ON CONFLICT (org_id, line_id) DO NOTHING",
    )
    .bind(&org)
    .bind(&line_id)
    .bind(&wo)
    .bind(visit.to_string())
    .bind(&line.sku)
    .bind(line.qty)
    .bind(line.serial.clone())
    .bind(line.replaced_serial.clone())
    .bind(&engineer)
    .bind(line.at_ms)
    .bind(line.voids.map(|v| v.to_string()))
    .bind(w.seq)
    .bind(w.now)
    .execute(&mut *tx)
    .await?;
    if claimed.rows_affected() != 1 {
        return Ok(()); // posted before: a replay
    }
    let src = Source {
        work_order_id: &wo,
        engineer_id: &engineer,
        location_id: None,
        sku: &line.sku,
        line_id: &line_id,
    };
    let outcome = if line.qty <= 0 {
        let why = format!("quantity {} is not greater than zero", line.qty);
        discrepancies::open(tx, w, DiscrepancyKind::InvalidLine, &src, &why).await?;
        Outcome::Held(why)
    } else if let Some(voided) = line.voids {
        reverse(tx, w, &src, &voided.to_string()).await?
    } else {
        match catalog::get(tx, w.org, &line.sku).await? {
            None => {
                let why = format!(
                    "{} x{} recorded on the phone is not in the catalog",
                    line.sku, line.qty
                );
                discrepancies::open(tx, w, DiscrepancyKind::UnknownSku, &src, &why).await?;
                Outcome::Held(why)
            }
            Some(part) => match locations::ensure_van(tx, w.org, line.engineer).await? {
                None => {
                    let why = "the line's engineer is not a user of the organisation".to_owned();
                    discrepancies::open(tx, w, DiscrepancyKind::InvalidLine, &src, &why).await?;
                    Outcome::Held(why)
                }
                Some(van) => {
                    consume(tx, w, &part, &van, line, &line_id, &wo, &order.site).await?;
                    Outcome::Posted(van.id)
                }
            },
        }
    };
    let (status, location, reason) = match outcome {
        Outcome::Posted(loc) => ("posted", Some(loc), None),
        Outcome::Held(why) => ("held", None, Some(why)),
        Outcome::Skipped(why) => ("skipped", None, Some(why)),
    };
    sqlx::query(
        "UPDATE posted_lines SET status = $3, location_id = $4, reason = $5 \
         WHERE org_id = $1 AND line_id = $2",
    )
    .bind(&org)
    .bind(&line_id)
    .bind(status)
    .bind(location)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Where the order's parts go: its customer and asset.
#[derive(Clone, Debug)]
struct Site {
    customer_id: Option<String>,
    asset_id: Option<String>,
}

impl Site {
    fn of(header: &Header) -> Site {
        let asset = &header.asset;
        let asset_id = [&asset.id, &asset.serial]
            .into_iter()
            .find(|s| !s.trim().is_empty())
            .cloned();
        Site {
            customer_id: Some(header.customer.id.clone()).filter(|c| !c.is_empty()),
            asset_id,
        }
    }
}

/// Post one consumption line from `van`: the consumption, the serial installed, the serial
/// removed, and the discrepancies they call for.
#[allow(clippy::too_many_arguments)]
async fn consume(
    tx: &mut AnyConnection,
    w: &mut Writer,
    part: &Part,
    van: &Location,
    line: &ConsumptionLine,
    line_id: &str,
    wo: &str,
    site: &Site,
) -> Result<()> {
    let engineer = line.engineer.to_string();
    let src = Source {
        work_order_id: wo,
        engineer_id: &engineer,
        location_id: Some(&van.id),
        sku: &part.sku,
        line_id,
    };
    let serial = if part.serial_tracked {
        match line
            .serial
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => {
                let why = format!(
                    "{} is serial-tracked but was consumed without a serial number",
                    part.sku
                );
                discrepancies::open(tx, w, DiscrepancyKind::SerialMismatch, &src, &why).await?;
                None
            }
            Some(s) => {
                let at: Option<(String, Option<String>)> = sqlx::query_as(
                    "SELECT state, location_id FROM serials WHERE org_id = $1 AND sku = $2 \
                     AND serial = $3",
                )
                .bind(w.org.to_string())
                .bind(&part.sku)
                .bind(s)
                .fetch_optional(&mut *tx)
                .await?;
                let in_van =
                    matches!(&at, Some((state, Some(l))) if state == "in_stock" && *l == van.id);
                if !in_van {
                    let why = match &at {
                        None => format!("serial {s} of {} was never in stock", part.sku),
                        Some((state, _)) => format!(
                            "serial {s} of {} was not in {} (it was {state} elsewhere)",
                            part.sku, van.code
                        ),
                    };
                    discrepancies::open(tx, w, DiscrepancyKind::SerialMismatch, &src, &why).await?;
                }
                Some(s.to_owned())
            }
        }
    } else {
        None
    };
    let refs = Refs {
        work_order_id: Some(wo.to_owned()),
        line_id: Some(line_id.to_owned()),
        engineer_id: Some(engineer.clone()),
        customer_id: site.customer_id.clone(),
        asset_id: site.asset_id.clone(),
        note: match (&line.serial, part.serial_tracked) {
            (Some(s), false) => format!("serial {s} noted on the phone"),
            _ => String::new(),
        },
        at_ms: Some(line.at_ms),
        ..Refs::default()
    };
    let posted = w
        .post(
            tx,
            &Movement {
                kind: Kind::Consume,
                part,
                qty: line.qty,
                from: Some((van, Condition::Good)),
                to: None,
                serial,
                checked: false,
                refs: refs.clone(),
            },
        )
        .await?;
    if let Some(b) = posted.from_balance
        && b.qty < 0
    {
        let why = format!(
            "{} went to {} in {} after consuming {} on the order",
            part.sku, b.qty, van.code, line.qty
        );
        discrepancies::open(tx, w, DiscrepancyKind::NegativeStock, &src, &why).await?;
    }
    if let Some(removed) = line
        .replaced_serial
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        w.post(
            tx,
            &Movement {
                kind: Kind::Removal,
                part,
                qty: 1,
                from: None,
                to: Some((van, Condition::Defective)),
                serial: Some(removed.to_owned()),
                checked: false,
                refs: Refs {
                    note: "removed from the asset, to be returned".into(),
                    ..refs
                },
            },
        )
        .await?;
    }
    Ok(())
}

/// A void line: reverse the movements of the line it voids, once.
async fn reverse(
    tx: &mut AnyConnection,
    w: &mut Writer,
    src: &Source<'_>,
    voided: &str,
) -> Result<Outcome> {
    let org = w.org.to_string();
    let original =
        sqlx::query("SELECT status FROM posted_lines WHERE org_id = $1 AND line_id = $2")
            .bind(&org)
            .bind(voided)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(original) = original else {
        let why = format!("voids line {voided}, which the order does not have");
        discrepancies::open(tx, w, DiscrepancyKind::InvalidLine, src, &why).await?;
        return Ok(Outcome::Held(why));
    };
    let status: String = original.try_get("status")?;
    match status.as_str() {
        "posted" => {}
        "held" => {
            sqlx::query(
                "UPDATE posted_lines SET status = 'voided' WHERE org_id = $1 AND line_id = $2",
            )
            .bind(&org)
            .bind(voided)
            .execute(&mut *tx)
            .await?;
            return Ok(Outcome::Skipped(format!(
                "voids held line {voided}: nothing was posted"
            )));
        }
        _ => {
            return Ok(Outcome::Skipped(format!(
                "voids line {voided}, which was never posted"
            )));
        }
    }
    // Two devices may void the same line concurrently: reverse it once.
    let reversed: Option<String> = sqlx::query_scalar(
        "SELECT line_id FROM posted_lines WHERE org_id = $1 AND voids = $2 \
         AND status = 'posted' AND line_id <> $3",
    )
    .bind(&org)
    .bind(voided)
    .bind(src.line_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(other) = reversed {
        return Ok(Outcome::Skipped(format!(
            "line {voided} was voided already by {other}"
        )));
    }
    let movements = sqlx::query(
        "SELECT kind, sku, qty, from_location, to_location, serial, work_order_id, engineer_id, \
         customer_id, asset_id FROM stock_movements WHERE org_id = $1 AND line_id = $2 \
         ORDER BY id",
    )
    .bind(&org)
    .bind(voided)
    .fetch_all(&mut *tx)
    .await?;
    let mut location = None;
    for m in &movements {
        let kind: String = m.try_get("kind")?;
        let sku: String = m.try_get("sku")?;
        let qty: i64 = m.try_get("qty")?;
        let from: Option<String> = m.try_get("from_location")?;
        let to: Option<String> = m.try_get("to_location")?;
        let part = catalog::require(tx, w.org, &sku).await?;
        // consume: van (good) -> out, so back into the van's good stock; removal: in -> van
        // (defective), so out of the van's defective units and back at the asset.
        let (van_id, from_cond, to_cond) = match (kind.as_str(), from, to) {
            ("consume", Some(van), None) => (van, None, Some(Condition::Good)),
            ("removal", None, Some(van)) => (van, Some(Condition::Defective), None),
            _ => continue,
        };
        let van = locations::resolve(tx, w.org, &van_id).await?;
        let refs = Refs {
            work_order_id: m.try_get("work_order_id")?,
            line_id: Some(src.line_id.to_owned()),
            engineer_id: m.try_get("engineer_id")?,
            customer_id: m.try_get("customer_id")?,
            asset_id: m.try_get("asset_id")?,
            note: format!("reverses line {voided}"),
            ..Refs::default()
        };
        let posted = w
            .post(
                tx,
                &Movement {
                    kind: Kind::ConsumeReversal,
                    part: &part,
                    qty,
                    from: from_cond.map(|c| (&van, c)),
                    to: to_cond.map(|c| (&van, c)),
                    serial: m.try_get("serial")?,
                    checked: false,
                    refs,
                },
            )
            .await?;
        if let Some(b) = posted.from_balance
            && b.defective < 0
        {
            let why = format!(
                "the removed {} voided on the phone had left {} already",
                part.sku, van.code
            );
            let s = Source {
                location_id: Some(&van.id),
                ..src.clone()
            };
            discrepancies::open(tx, w, DiscrepancyKind::NegativeStock, &s, &why).await?;
        }
        location = Some(van.id);
    }
    Ok(match location {
        Some(l) => Outcome::Posted(l),
        None => Outcome::Skipped(format!("line {voided} had no movement to reverse")),
    })
}

/// Post the held lines of a work order, engineer and SKU as `part` (resolving an `unknown_sku`
/// discrepancy); returns how many were posted.
pub(crate) async fn post_held(
    tx: &mut AnyConnection,
    w: &mut Writer,
    work_order_id: &str,
    engineer_id: &str,
    sku: &str,
    part: &Part,
) -> Result<usize> {
    let rows = sqlx::query(
        "SELECT p.line_id, p.qty, p.serial, p.replaced_serial, p.at_ms, w.customer_id, \
         w.asset_serial FROM posted_lines p \
         LEFT JOIN work_orders w ON w.org_id = p.org_id AND w.id = p.work_order_id \
         WHERE p.org_id = $1 AND p.work_order_id = $2 AND p.engineer_id = $3 AND p.sku = $4 \
         AND p.status = 'held' AND p.voids IS NULL AND p.qty > 0 ORDER BY p.at_ms, p.line_id",
    )
    .bind(w.org.to_string())
    .bind(work_order_id)
    .bind(engineer_id)
    .bind(sku)
    .fetch_all(&mut *tx)
    .await?;
    let Ok(engineer) = engineer_id.parse::<UserId>() else {
        return Ok(0);
    };
    let Some(van) = locations::ensure_van(tx, w.org, engineer).await? else {
        return Ok(0);
    };
    let mut n = 0;
    for r in &rows {
        let line_id: String = r.try_get("line_id")?;
        let Ok(id) = line_id.parse() else { continue };
        let line = ConsumptionLine {
            id,
            sku: part.sku.clone(),
            qty: r.try_get("qty")?,
            serial: r.try_get("serial")?,
            replaced_serial: r.try_get("replaced_serial")?,
            engineer,
            at_ms: r.try_get("at_ms")?,
            hlc: sync_core::Hlc::ZERO,
            voids: None,
        };
        let site = Site {
            customer_id: r.try_get("customer_id")?,
            asset_id: r
                .try_get::<Option<String>, _>("asset_serial")?
                .filter(|s| !s.is_empty()),
        };
        consume(tx, w, part, &van, &line, &line_id, work_order_id, &site).await?;
        sqlx::query(
            "UPDATE posted_lines SET status = 'posted', location_id = $3, \
             reason = $4 WHERE org_id = $1 AND line_id = $2",
        )
        .bind(w.org.to_string())
        .bind(&line_id)
        .bind(&van.id)
        .bind(format!(
            "posted as {} when its discrepancy was resolved",
            part.sku
        ))
        .execute(&mut *tx)
        .await?;
        n += 1;
    }
    Ok(n)
}
