//! Reading orders: lists with filters and sorting, full-text search, one order as records.
//! Everything reads the device store's query tables or one document: offline, milliseconds.

use crate::client::{FieldClient, META_LAST_SYNC, parse_order};
use crate::error::{ApiError, Result, guard};
use crate::geofence;
use crate::records::{OrderQuery, OrderSort, OrderStatus, OrderSummary, OrderWindow, WorkOrder};
use sync_core::{ListQuery, Sort, UserId, VisitId, WorkOrderDoc};

const DAY_MS: i64 = 86_400_000;

/// What is waiting to go to the server.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SyncStatus {
    /// Orders with local changes the server has not acknowledged.
    pub pending_orders: u32,
    /// Photos and signatures not uploaded yet.
    pub pending_uploads: u32,
    /// When the last sync finished (this device's clock), if ever.
    pub last_sync_ms: Option<i64>,
    pub signed_in: bool,
}

#[uniffi::export]
impl FieldClient {
    /// List orders (see [`OrderQuery`]). Offline; reads only the query table.
    pub fn list_orders(&self, query: OrderQuery) -> Result<Vec<OrderSummary>> {
        guard(|| {
            let Some(q) = self.list_query(&query)? else {
                return Ok(Vec::new());
            };
            let rows = self.local()?.store.list(&q)?;
            Ok(rows
                .into_iter()
                .map(|s| {
                    let d = query
                        .position
                        .map(|p| geofence::distance_m(p.lat, p.lon, s.lat, s.lon));
                    OrderSummary::of(s, d)
                })
                .collect())
        })
    }

    /// Full-text search over order number, customer, site address, asset serial and model, and
    /// problem. Every word must match (a substring, ignoring case and accents); best first; at
    /// most `limit` (0: no limit).
    pub fn search_orders(&self, text: String, limit: u32) -> Result<Vec<OrderSummary>> {
        guard(|| {
            let rows = self.local()?.store.search(&text, limit)?;
            Ok(rows
                .into_iter()
                .map(|s| OrderSummary::of(s, None))
                .collect())
        })
    }

    /// One order with everything in it, as plain records.
    pub fn get_order(&self, order_id: String) -> Result<WorkOrder> {
        guard(|| {
            let id = parse_order(&order_id)?;
            let local = self.local()?;
            let (doc, pending) = local
                .store
                .read(|tx| Ok((tx.load(&id)?, tx.pending()?.contains(&id))))?;
            let order = doc.read()?;
            let me = self.credentials().and_then(|c| c.user_id.parse().ok());
            let current = me.and_then(|u| current_visit(&doc, u));
            Ok(WorkOrder::of(order, current, pending, &local.blobs))
        })
    }

    /// What is waiting for upload, and when the last sync finished.
    pub fn sync_status(&self) -> Result<SyncStatus> {
        guard(|| {
            let local = self.local()?;
            let (orders, last) = local.store.read(|tx| {
                Ok((
                    tx.pending()?.len() as u32,
                    tx.meta(META_LAST_SYNC)?
                        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
                        .map(i64::from_be_bytes),
                ))
            })?;
            Ok(SyncStatus {
                pending_orders: orders,
                pending_uploads: local.blobs.pending_count()?,
                last_sync_ms: last,
                signed_in: self.credentials().is_some(),
            })
        })
    }
}

impl FieldClient {
    /// The store query for `q`, or `None` when it can match nothing.
    fn list_query(&self, q: &OrderQuery) -> Result<Option<ListQuery>> {
        if let Some(p) = &q.position {
            geofence::validate(p)?;
        }
        let status = if q.statuses.is_empty() {
            None
        } else {
            // `Unknown` stands for statuses this build cannot name: nothing to filter on.
            let known: Vec<_> = q.statuses.iter().filter_map(|s| s.to_core()).collect();
            if known.is_empty() {
                return Ok(None);
            }
            Some(known)
        };
        let (from_ms, to_ms) = match q.window.clone() {
            None => (None, None),
            Some(OrderWindow::Today { utc_offset_minutes }) => {
                let start = local_day_start(self.now(), utc_offset_minutes)?;
                (Some(start), Some(start + DAY_MS - 1))
            }
            Some(OrderWindow::Upcoming { utc_offset_minutes }) => {
                let start = local_day_start(self.now(), utc_offset_minutes)?;
                (Some(start + DAY_MS), None)
            }
            Some(OrderWindow::Between { from_ms, to_ms }) => {
                if to_ms < from_ms {
                    return Err(ApiError::input("the window ends before it starts"));
                }
                (Some(from_ms), Some(to_ms))
            }
        };
        let sort = match q.sort.unwrap_or(OrderSort::Schedule) {
            OrderSort::Schedule => Sort::Schedule,
            OrderSort::Priority => Sort::Priority,
            OrderSort::Sla => Sort::Sla,
            OrderSort::Distance => {
                let p = q.position.ok_or_else(|| {
                    ApiError::input("sorting by distance needs the current position")
                })?;
                Sort::DistanceFrom {
                    lat: p.lat,
                    lon: p.lon,
                }
            }
        };
        Ok(Some(ListQuery {
            status,
            assignee: None,
            from_ms,
            to_ms,
            sort,
            limit: q.limit,
            offset: q.offset,
        }))
    }
}

/// The UTC instant at which the local day of `now_ms` starts.
fn local_day_start(now_ms: i64, utc_offset_minutes: i32) -> Result<i64> {
    if !(-18 * 60..=18 * 60).contains(&utc_offset_minutes) {
        return Err(ApiError::input(
            "utc_offset_minutes must be within ±18 hours",
        ));
    }
    let offset = i64::from(utc_offset_minutes) * 60_000;
    let local = now_ms + offset;
    Ok(local.div_euclid(DAY_MS) * DAY_MS - offset)
}

/// The visit `user` works on: their latest visit without a check-out, else their latest visit.
pub(crate) fn current_visit(doc: &WorkOrderDoc, user: UserId) -> Option<VisitId> {
    let mut mine: Vec<_> = doc
        .visit_ids()
        .into_iter()
        .filter_map(|id| doc.read_visit(&id).ok())
        .filter(|v| v.engineer == user)
        .collect();
    mine.sort_by_key(|v| (v.check_out.is_none(), v.created_at_ms, v.id));
    mine.last().map(|v| v.id)
}

/// Used by the status records: `status` of an order, for a result.
pub(crate) fn status_of(doc: &WorkOrderDoc) -> OrderStatus {
    OrderStatus::of(&doc.status())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_days_start_at_local_midnight() {
        // 2026-11-24 10:00 UTC
        let now = 1_795_514_400_000;
        let utc = local_day_start(now, 0).unwrap();
        assert_eq!(utc % DAY_MS, 0);
        assert!(utc <= now && now < utc + DAY_MS);
        // Shanghai (UTC+8): the local day started at 16:00 UTC the day before.
        let sh = local_day_start(now, 480).unwrap();
        assert_eq!(sh, utc - 8 * 3_600_000);
        // Los Angeles (UTC-8) at 02:00 UTC is still the previous local day.
        let la = local_day_start(utc + 2 * 3_600_000, -480).unwrap();
        assert_eq!(la, utc - DAY_MS + 8 * 3_600_000);
        assert!(local_day_start(now, 20 * 60).is_err());
    }
}
