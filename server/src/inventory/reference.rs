//! Reference data for phones: the catalog and the engineer's van stock, as versioned deltas
//! (`sync_core::protocol::reference`). Versions are change sequence numbers: catalog rows and
//! balances carry the seq of their last write, and every stock or catalog write takes the global
//! write lock, so "changed after seq N" can never miss a write that committed late.

use super::Result;
use super::catalog;
use super::locations;
use crate::docstore;
use sqlx::AnyConnection;
use std::collections::BTreeMap;
use sync_core::protocol::reference::{ReferenceDelta, VanStockLine};
use sync_core::{OrgId, UserId};

/// What changed in `engineer`'s reference data since version `since`: catalog items written
/// after it (withdrawn ones marked deleted), and the whole van stock (with serial numbers) if
/// any movement touched the van after it. `since == 0` (or a version this database never
/// issued) is a full copy. `None` when nothing changed. The version is the current change_seq.
pub async fn reference_for_device(
    conn: &mut AnyConnection,
    org: OrgId,
    engineer: UserId,
    since: u64,
) -> crate::Result<Option<ReferenceDelta>> {
    Ok(delta(conn, org, engineer, since).await?)
}

async fn delta(
    conn: &mut AnyConnection,
    org: OrgId,
    engineer: UserId,
    since: u64,
) -> Result<Option<ReferenceDelta>> {
    // Read the version first: whatever commits after this read is sent (again) next time.
    let version = docstore::current_seq(conn).await?;
    let since = i64::try_from(since).unwrap_or(i64::MAX);
    let full = since == 0 || since > version;
    let catalog: Vec<_> = catalog::changed_since(conn, org, since, full)
        .await?
        .iter()
        .map(catalog::Part::to_reference)
        .collect();
    let van = match locations::van_of(conn, org, engineer).await? {
        None => full.then(Vec::new),
        Some(van) => {
            let changed: Option<i64> = sqlx::query_scalar(
                "SELECT MAX(seq) FROM stock_balances WHERE org_id = $1 AND location_id = $2",
            )
            .bind(org.to_string())
            .bind(&van.id)
            .fetch_one(&mut *conn)
            .await?;
            if full || changed.is_some_and(|s| s > since) {
                Some(van_stock(conn, org, &van.id).await?)
            } else {
                None
            }
        }
    };
    if !full && catalog.is_empty() && van.is_none() {
        return Ok(None);
    }
    Ok(Some(ReferenceDelta {
        version: u64::try_from(version).unwrap_or(0),
        full,
        catalog,
        van,
    }))
}

/// A van's good stock by SKU with the serial numbers in it (lines at zero without serials are
/// left out).
pub async fn van_stock(
    conn: &mut AnyConnection,
    org: OrgId,
    van_id: &str,
) -> Result<Vec<VanStockLine>> {
    let balances: Vec<(String, i64)> = sqlx::query_as(
        "SELECT sku, qty FROM stock_balances WHERE org_id = $1 AND location_id = $2 ORDER BY sku",
    )
    .bind(org.to_string())
    .bind(van_id)
    .fetch_all(&mut *conn)
    .await?;
    let serials: Vec<(String, String)> = sqlx::query_as(
        "SELECT sku, serial FROM serials WHERE org_id = $1 AND location_id = $2 \
         AND state = 'in_stock' ORDER BY sku, serial",
    )
    .bind(org.to_string())
    .bind(van_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut lines: BTreeMap<String, VanStockLine> = balances
        .into_iter()
        .map(|(sku, qty)| {
            (
                sku.clone(),
                VanStockLine {
                    sku,
                    qty,
                    serials: Vec::new(),
                },
            )
        })
        .collect();
    for (sku, serial) in serials {
        lines
            .entry(sku.clone())
            .or_insert_with(|| VanStockLine {
                sku,
                qty: 0,
                serials: Vec::new(),
            })
            .serials
            .push(serial);
    }
    Ok(lines
        .into_values()
        .filter(|l| l.qty != 0 || !l.serials.is_empty())
        .collect())
}
