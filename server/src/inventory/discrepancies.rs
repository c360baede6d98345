//! Discrepancies: what the warehouse must look at because a synced consumption line could not
//! be posted cleanly. The line itself is never refused (it is a physical fact recorded in the
//! field); at most one discrepancy is open per kind, work order, engineer and part, however
//! many lines caused it.
//!
//! | kind | raised when |
//! |---|---|
//! | `negative_stock` | the van's balance went below zero (stock was wrong, or two engineers share a van) |
//! | `unknown_sku` | the line names a part the catalog does not have: the line is held, not posted |
//! | `serial_mismatch` | a serial-tracked part was consumed without its serial, or with one that was not in the van |
//! | `invalid_line` | the line cannot be posted at all (quantity not > 0, unknown engineer, a void of nothing) |

use super::catalog::{self, Arg, Where};
use super::events::About;
use super::ledger::Writer;
use super::{InvError, Result};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use sync_core::OrgId;
use utoipa::ToSchema;

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiscrepancyKind {
    NegativeStock,
    UnknownSku,
    SerialMismatch,
    InvalidLine,
}

impl DiscrepancyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DiscrepancyKind::NegativeStock => "negative_stock",
            DiscrepancyKind::UnknownSku => "unknown_sku",
            DiscrepancyKind::SerialMismatch => "serial_mismatch",
            DiscrepancyKind::InvalidLine => "invalid_line",
        }
    }
}

/// A discrepancy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Discrepancy {
    pub id: String,
    /// negative_stock, unknown_sku, serial_mismatch or invalid_line.
    pub kind: String,
    /// open or resolved.
    pub status: String,
    pub work_order_id: Option<String>,
    /// The work order's number (WO-000042), when it is known.
    pub work_order_number: Option<String>,
    pub engineer_id: Option<String>,
    pub location_id: Option<String>,
    pub sku: String,
    /// The first consumption line that raised it.
    pub line_id: Option<String>,
    pub detail: String,
    pub opened_at_ms: i64,
    pub resolved_at_ms: Option<i64>,
    pub resolved_by: Option<String>,
    pub resolution: Option<String>,
}

impl Discrepancy {
    fn from_row(r: &AnyRow) -> Result<Discrepancy> {
        Ok(Discrepancy {
            id: r.try_get("id")?,
            kind: r.try_get("kind")?,
            status: r.try_get("status")?,
            work_order_id: r.try_get("work_order_id")?,
            work_order_number: r.try_get("number")?,
            engineer_id: r.try_get("engineer_id")?,
            location_id: r.try_get("location_id")?,
            sku: r.try_get("sku")?,
            line_id: r.try_get("line_id")?,
            detail: r.try_get("detail")?,
            opened_at_ms: r.try_get("opened_at")?,
            resolved_at_ms: r.try_get("resolved_at")?,
            resolved_by: r.try_get("resolved_by")?,
            resolution: r.try_get("resolution")?,
        })
    }
}

const SELECT: &str = "SELECT d.id, d.kind, d.status, d.work_order_id, w.number, d.engineer_id, \
                      d.location_id, d.sku, d.line_id, d.detail, d.opened_at, d.resolved_at, \
                      d.resolved_by, d.resolution FROM discrepancies d \
                      LEFT JOIN work_orders w ON w.org_id = d.org_id AND w.id = d.work_order_id";

/// Where a discrepancy comes from.
#[derive(Clone, Debug)]
pub struct Source<'a> {
    pub work_order_id: &'a str,
    pub engineer_id: &'a str,
    pub location_id: Option<&'a str>,
    pub sku: &'a str,
    pub line_id: &'a str,
}

/// Open a discrepancy unless one of this kind is open for the same work order, engineer and
/// part; returns its id and whether it is new.
pub async fn open(
    tx: &mut AnyConnection,
    w: &mut Writer,
    kind: DiscrepancyKind,
    src: &Source<'_>,
    detail: &str,
) -> Result<(String, bool)> {
    let org = w.org.to_string();
    let existing: Option<String> = sqlx::query_scalar(
        "SELECT id FROM discrepancies WHERE org_id = $1 AND kind = $2 AND work_order_id = $3 \
         AND engineer_id = $4 AND sku = $5 AND status = 'open'",
    )
    .bind(&org)
    .bind(kind.as_str())
    .bind(src.work_order_id)
    .bind(src.engineer_id)
    .bind(src.sku)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(id) = existing {
        return Ok((id, false));
    }
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO discrepancies (org_id, id, kind, status, work_order_id, engineer_id, \
         location_id, sku, line_id, detail, opened_at, opened_seq) \
         VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&org)
    .bind(&id)
    .bind(kind.as_str())
    .bind(src.work_order_id)
    .bind(src.engineer_id)
    .bind(src.location_id)
    .bind(src.sku)
    .bind(src.line_id)
    .bind(detail)
    .bind(w.now)
    .bind(w.seq)
    .execute(&mut *tx)
    .await?;
    tracing::warn!(
        kind = kind.as_str(),
        sku = src.sku,
        work_order = src.work_order_id,
        "inventory discrepancy opened"
    );
    w.emit(
        tx,
        "discrepancy_opened",
        About {
            location_id: src.location_id.map(str::to_owned),
            sku: Some(src.sku.to_owned()),
            work_order_id: Some(src.work_order_id.to_owned()),
            discrepancy_id: Some(id.clone()),
        },
        serde_json::json!({
            "kind": kind.as_str(),
            "engineer_id": src.engineer_id,
            "line_id": src.line_id,
            "detail": detail,
        }),
    )
    .await?;
    Ok((id, true))
}

/// One discrepancy.
pub async fn get(conn: &mut AnyConnection, org: OrgId, id: &str) -> Result<Option<Discrepancy>> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "{SELECT} WHERE d.org_id = $1 AND d.id = $2"
    )))
    .bind(org.to_string())
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(Discrepancy::from_row).transpose()
}

/// How warehouse staff resolve a discrepancy.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct Resolve {
    /// What was found and done (required).
    pub note: String,
    /// For `unknown_sku`: post the held lines as this part of the catalog (the SKU the engineer
    /// meant, or the same SKU once it was added to the catalog).
    #[serde(default)]
    pub post_as_sku: Option<String>,
}

/// Resolve an open discrepancy (409 if resolved already). With `post_as_sku`, the held lines
/// behind an `unknown_sku` discrepancy are posted to the ledger now, in the same transaction.
pub async fn resolve(
    tx: &mut AnyConnection,
    w: &mut Writer,
    id: &str,
    how: &Resolve,
) -> Result<Discrepancy> {
    let d = get(tx, w.org, id)
        .await?
        .ok_or(InvError::NotFound("discrepancy"))?;
    if d.status != "open" {
        return Err(InvError::Conflict(
            "the discrepancy is resolved already".into(),
        ));
    }
    let note = how.note.trim();
    if note.is_empty() || note.chars().count() > 2000 {
        return Err(InvError::Invalid(
            "say how it was resolved (a note of 1-2000 characters)".into(),
        ));
    }
    let mut resolution = note.to_owned();
    if let Some(sku) = how.post_as_sku.as_deref() {
        if d.kind != DiscrepancyKind::UnknownSku.as_str() {
            return Err(InvError::Invalid(
                "post_as_sku resolves only unknown_sku discrepancies".into(),
            ));
        }
        let part = catalog::require(tx, w.org, sku).await?;
        let posted = super::consumption::post_held(
            tx,
            w,
            d.work_order_id.as_deref().unwrap_or_default(),
            d.engineer_id.as_deref().unwrap_or_default(),
            &d.sku,
            &part,
        )
        .await?;
        resolution.push_str(&format!(" ({posted} line(s) posted as {})", part.sku));
    }
    sqlx::query(
        "UPDATE discrepancies SET status = 'resolved', resolved_at = $3, resolved_by = $4, \
         resolution = $5 WHERE org_id = $1 AND id = $2",
    )
    .bind(w.org.to_string())
    .bind(id)
    .bind(w.now)
    .bind(w.actor.user.map(|u| u.to_string()))
    .bind(&resolution)
    .execute(&mut *tx)
    .await?;
    w.emit(
        tx,
        "discrepancy_resolved",
        About {
            location_id: d.location_id.clone(),
            sku: Some(d.sku.clone()),
            work_order_id: d.work_order_id.clone(),
            discrepancy_id: Some(d.id.clone()),
        },
        serde_json::json!({
            "kind": d.kind,
            "resolution": resolution,
            "resolved_by": w.actor.user.map(|u| u.to_string()),
        }),
    )
    .await?;
    get(tx, w.org, id)
        .await?
        .ok_or(InvError::NotFound("discrepancy"))
}

/// Discrepancy filters.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiscrepancyFilter {
    /// open (default), resolved or all.
    pub status: Option<String>,
    pub kind: Option<String>,
    pub work_order_id: Option<String>,
    pub engineer_id: Option<String>,
    pub sku: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Discrepancies, oldest first (the queue to work through).
pub async fn list(
    conn: &mut AnyConnection,
    org: OrgId,
    f: &DiscrepancyFilter,
) -> Result<(i64, Vec<Discrepancy>)> {
    let mut w = Where::new(org, "d.org_id");
    match f.status.as_deref().unwrap_or("open") {
        "all" => {}
        s @ ("open" | "resolved") => w.and("d.status = ?", [Arg::Text(s.to_owned())]),
        other => return Err(InvError::Invalid(format!("unknown status {other:?}"))),
    }
    for (col, v) in [
        ("d.kind", &f.kind),
        ("d.work_order_id", &f.work_order_id),
        ("d.engineer_id", &f.engineer_id),
        ("d.sku", &f.sku),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            w.and(&format!("{col} = ?"), [Arg::Text(v.trim().to_owned())]);
        }
    }
    let (limit, offset) = catalog::page(f.limit, f.offset);
    let total: i64 = w
        .bind_scalar(sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM discrepancies d WHERE {}",
            w.sql
        ))))
        .fetch_one(&mut *conn)
        .await?;
    let rows = w
        .bind(sqlx::query(AssertSqlSafe(format!(
            "{SELECT} WHERE {} ORDER BY d.opened_at, d.id LIMIT {limit} OFFSET {offset}",
            w.sql
        ))))
        .fetch_all(&mut *conn)
        .await?;
    let items = rows
        .iter()
        .map(Discrepancy::from_row)
        .collect::<Result<_>>()?;
    Ok((total, items))
}
