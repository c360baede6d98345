//! The sync endpoint (sync-core's batch protocol over HTTP) and the live long poll.

use crate::auth::DeviceCaller;
use crate::error::{AppError, ErrorBody, Json};
use crate::state::AppState;
use crate::sync::{self, Device};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The longest a long poll is held.
const MAX_WAIT: Duration = Duration::from_secs(30);

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sync_batch))
        // A first sync's pushes can be large; sync-core's own limits still apply inside.
        .layer(DefaultBodyLimit::max(
            sync_core::protocol::Limits::default().max_message_bytes,
        ))
        .routes(routes!(wait_for_changes))
}

/// One sync round (engineer device token). The body is a sync-core `SyncRequest`
/// (`application/octet-stream`, see docs/sync-protocol.md); the answer a `SyncResponse`. A
/// malformed, truncated or wrong-version message is 400 `sync_protocol` and changes nothing.
#[utoipa::path(post, path = "/api/v1/sync", tag = "sync",
    security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "SyncResponse bytes", content_type = "application/octet-stream"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 503, description = "Busy: nothing changed; retry after `Retry-After` seconds", body = ErrorBody)))]
async fn sync_batch(
    State(state): State<AppState>,
    device: DeviceCaller,
    body: Bytes,
) -> Result<impl IntoResponse, AppError> {
    let device = Device {
        org: device.caller.org,
        user: device.caller.user,
        device_id: device.device_id,
    };
    let out = sync::handle(&state, &device, &body).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        out.response,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// The device's sync cursor.
    pub cursor: u64,
    /// How long to wait at most, in milliseconds (capped at 30 000).
    pub wait_ms: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct WaitAnswer {
    /// Something in the device's scope changed since `cursor`: sync now.
    pub changed: bool,
}

/// Long poll (engineer device token): answers as soon as an order in the device's scope changed
/// after `cursor`, or one it holds left its scope; otherwise `changed: false` after `wait_ms`.
/// A phone keeps one open while it has signal, so a new assignment arrives within a second.
#[utoipa::path(get, path = "/api/v1/sync/changes", tag = "sync",
    security(("bearer" = [])), params(WaitQuery),
    responses((status = 200, body = WaitAnswer), (status = 401, body = ErrorBody)))]
async fn wait_for_changes(
    State(state): State<AppState>,
    device: DeviceCaller,
    Query(q): Query<WaitQuery>,
) -> Result<Json<WaitAnswer>, AppError> {
    let wait = Duration::from_millis(q.wait_ms.unwrap_or(25_000)).min(MAX_WAIT);
    let deadline = tokio::time::Instant::now() + wait;
    let dev = Device {
        org: device.caller.org,
        user: device.caller.user,
        device_id: device.device_id,
    };
    let notify = state.docs.feed().waiter(dev.org, dev.user);
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if sync::scope_changed(&state, &dev, q.cursor).await? {
            return Ok(Json(WaitAnswer { changed: true }));
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return Ok(Json(WaitAnswer { changed: false }));
        }
    }
}
