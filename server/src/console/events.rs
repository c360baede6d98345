//! `/console/events`: server-sent events for the live board. One `change` event whenever an
//! order of the organisation may have changed: the feed's organisation-wide signal (dispatcher
//! edits and phone syncs in this process, other nodes' writes through PostgreSQL NOTIFY), and,
//! as a safety net for writes that wake nobody (a new unassigned order), a cheap look every few
//! seconds at the organisation's highest `updated_seq` (index `work_orders_by_seq`). The page
//! then re-fetches the board fragment, so an event carries no data worth protecting.

use super::session::Ctx;
use crate::auth::Office;
use crate::error::AppError;
use crate::state::AppState;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use std::convert::Infallible;
use std::time::Duration;

/// How often the safety net looks at the projection.
const RECHECK: Duration = Duration::from_secs(3);

async fn latest_seq(state: &AppState, org: &str) -> i64 {
    sqlx::query_scalar::<_, Option<i64>>(
        "SELECT MAX(updated_seq) FROM work_orders WHERE org_id = $1",
    )
    .bind(org)
    .fetch_one(state.db.pool())
    .await
    .ok()
    .flatten()
    .unwrap_or(0)
}

/// `GET /console/events` (admin, dispatcher).
pub async fn events(
    State(state): State<AppState>,
    _ctx: Ctx,
    Office(caller): Office,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let mut rx = state.docs.feed().org_changes(caller.org);
    rx.mark_unchanged();
    let org = caller.org.to_string();
    let seq = latest_seq(&state, &org).await;
    let stream = stream::unfold(
        (state, rx, org, seq),
        |(state, mut rx, org, mut seq)| async move {
            loop {
                let woke = tokio::select! {
                    r = rx.changed() => {
                        if r.is_err() {
                            // The feed went away (shutting down): fall back to the safety net.
                            tokio::time::sleep(RECHECK).await;
                        }
                        r.is_ok()
                    }
                    _ = tokio::time::sleep(RECHECK) => false,
                };
                let now = latest_seq(&state, &org).await;
                if woke || now != seq {
                    seq = now;
                    let ev = Event::default().event("change").data(seq.to_string());
                    return Some((Ok(ev), (state, rx, org, seq)));
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
