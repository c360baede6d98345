//! The history of a serial number: every movement it made, in one query over the ledger
//! (index `stock_movements_by_serial`), and where it is now.

use super::reports::{MOVEMENT_SELECT, MovementRow};
use super::{InvError, Result};
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use sync_core::OrgId;
use utoipa::ToSchema;

/// Where a serial number is now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SerialNow {
    pub sku: String,
    pub name: String,
    /// in_stock, defective, installed, returned_to_supplier or written_off.
    pub state: String,
    pub location_id: Option<String>,
    pub location_code: Option<String>,
    /// The last work order that installed or removed it.
    pub work_order_id: Option<String>,
    pub asset_id: Option<String>,
    pub customer_id: Option<String>,
}

/// The life of a serial number: where it is, and every movement it made, oldest first
/// (supplier receipt, issue, installation at an asset in a work order, removal, return,
/// quarantine, back to the supplier).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SerialHistory {
    pub serial: String,
    /// One entry per part with this serial (serial numbers are unique per part).
    pub now: Vec<SerialNow>,
    pub history: Vec<MovementRow>,
}

/// The history of `serial` (404 if it never moved).
pub async fn serial_history(
    conn: &mut AnyConnection,
    org: OrgId,
    serial: &str,
) -> Result<SerialHistory> {
    let serial = serial.trim();
    let history = sqlx::query(AssertSqlSafe(format!(
        "{MOVEMENT_SELECT} WHERE m.org_id = $1 AND m.serial = $2 ORDER BY m.id"
    )))
    .bind(org.to_string())
    .bind(serial)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(MovementRow::from_row)
    .collect::<Result<Vec<_>>>()?;
    let now = sqlx::query(
        "SELECT s.sku, p.name, s.state, s.location_id, l.code, s.work_order_id, s.asset_id, \
         s.customer_id FROM serials s \
         JOIN parts p ON p.org_id = s.org_id AND p.sku = s.sku \
         LEFT JOIN locations l ON l.org_id = s.org_id AND l.id = s.location_id \
         WHERE s.org_id = $1 AND s.serial = $2 ORDER BY s.sku",
    )
    .bind(org.to_string())
    .bind(serial)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(SerialNow {
            sku: r.try_get("sku")?,
            name: r.try_get("name")?,
            state: r.try_get("state")?,
            location_id: r.try_get("location_id")?,
            location_code: r.try_get("code")?,
            work_order_id: r.try_get("work_order_id")?,
            asset_id: r.try_get("asset_id")?,
            customer_id: r.try_get("customer_id")?,
        })
    })
    .collect::<Result<Vec<_>>>()?;
    if history.is_empty() && now.is_empty() {
        return Err(InvError::NotFound("serial number"));
    }
    Ok(SerialHistory {
        serial: serial.to_owned(),
        now,
        history,
    })
}
