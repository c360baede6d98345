//! The inventory outbox: `inventory_events`, written in the transaction of what caused them and
//! read in id order after a cursor by whatever notifies people or runs workflows.
//!
//! | kind | when | detail |
//! |---|---|---|
//! | `low_stock` | a location's available stock (balance minus reservations) drops below its reorder point | `available`, `reorder_point`, `reorder_qty` |
//! | `discrepancy_opened` | a synced consumption line could not be posted cleanly | `kind`, `detail`, `engineer_id` |
//! | `discrepancy_resolved` | warehouse staff resolved one | `resolution`, `resolved_by` |
//! | `parts_request_decided` | a parts request was approved, partly approved or rejected | `request_id`, `approved_qty`, `status` |
//! | `reservation_closed` | a reservation expired or was released | `reservation_id`, `status`, `reason` |

use super::Result;
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};
use sync_core::OrgId;
use utoipa::ToSchema;

/// One event of the outbox.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InventoryEvent {
    /// Increasing: read with `?after=<last id seen>`.
    pub id: i64,
    pub kind: String,
    pub location_id: Option<String>,
    pub sku: Option<String>,
    pub work_order_id: Option<String>,
    pub discrepancy_id: Option<String>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// Change sequence number of the transaction that raised it.
    pub seq: i64,
    pub created_at_ms: i64,
}

/// What an event is about.
#[derive(Clone, Debug, Default)]
pub struct About {
    pub location_id: Option<String>,
    pub sku: Option<String>,
    pub work_order_id: Option<String>,
    pub discrepancy_id: Option<String>,
}

/// Append an event (inside the transaction of its cause).
pub async fn emit(
    tx: &mut AnyConnection,
    org: OrgId,
    seq: i64,
    now: i64,
    kind: &str,
    about: About,
    detail: serde_json::Value,
) -> Result<InventoryEvent> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO inventory_events (org_id, kind, location_id, sku, work_order_id, \
         discrepancy_id, detail, seq, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         RETURNING id",
    )
    .bind(org.to_string())
    .bind(kind)
    .bind(about.location_id.clone())
    .bind(about.sku.clone())
    .bind(about.work_order_id.clone())
    .bind(about.discrepancy_id.clone())
    .bind(detail.to_string())
    .bind(seq)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    tracing::info!(event = kind, sku = ?about.sku, "inventory event");
    Ok(InventoryEvent {
        id,
        kind: kind.to_owned(),
        location_id: about.location_id,
        sku: about.sku,
        work_order_id: about.work_order_id,
        discrepancy_id: about.discrepancy_id,
        detail,
        seq,
        created_at_ms: now,
    })
}

/// Events after `after`, oldest first, at most `limit`, optionally of one kind.
pub async fn list(
    conn: &mut AnyConnection,
    org: OrgId,
    after: i64,
    kind: Option<&str>,
    limit: i64,
) -> Result<Vec<InventoryEvent>> {
    let mut sql = String::from(
        "SELECT id, kind, location_id, sku, work_order_id, discrepancy_id, detail, seq, \
         created_at FROM inventory_events WHERE org_id = $1 AND id > $2",
    );
    if kind.is_some() {
        sql.push_str(" AND kind = $3");
    }
    sql.push_str(&format!(" ORDER BY id LIMIT {}", limit.clamp(1, 1000)));
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org.to_string())
        .bind(after);
    if let Some(k) = kind {
        q = q.bind(k.to_owned());
    }
    let rows = q.fetch_all(conn).await?;
    rows.iter()
        .map(|r| {
            let detail: String = r.try_get("detail")?;
            Ok(InventoryEvent {
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                location_id: r.try_get("location_id")?,
                sku: r.try_get("sku")?,
                work_order_id: r.try_get("work_order_id")?,
                discrepancy_id: r.try_get("discrepancy_id")?,
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                seq: r.try_get("seq")?,
                created_at_ms: r.try_get("created_at")?,
            })
        })
        .collect()
}
