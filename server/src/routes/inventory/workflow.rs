//! Reservations, parts requests, discrepancies and the inventory event outbox.

use super::{Paged, Planner, Stockkeeper, actor};
use crate::error::{AppError, ErrorBody, Json, Query};
use crate::inventory::discrepancies::{self, Discrepancy, DiscrepancyFilter, Resolve};
use crate::inventory::events::{self, InventoryEvent};
use crate::inventory::ledger::Writer;
use crate::inventory::requests::{self, Decided, Decision, PartsRequest, RequestFilter};
use crate::inventory::reservations::{self, NewReservation, Reservation, ReservationFilter};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_reservations, reserve))
        .routes(routes!(release_reservation))
        .routes(routes!(list_requests))
        .routes(routes!(decide_request))
        .routes(routes!(list_discrepancies))
        .routes(routes!(resolve_discrepancy))
        .routes(routes!(list_events))
}

/// Reservations (warehouse, admin, dispatcher); active ones unless `status` says otherwise.
#[utoipa::path(get, path = "/api/v1/inventory/reservations", tag = "inventory",
    security(("bearer" = [])),
    params(ReservationFilter),
    responses((status = 200, body = Vec<Reservation>), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn list_reservations(
    State(state): State<AppState>,
    Planner(caller): Planner,
    Query(filter): Query<ReservationFilter>,
) -> Result<Json<Vec<Reservation>>, AppError> {
    reservations::sweep_if_due(&state.db, caller.org).await?;
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(
        reservations::list(&mut conn, caller.org, &filter).await?,
    ))
}

/// Reserve parts for a work order (warehouse, admin, dispatcher): they are then available to
/// no one else. 409 `insufficient_stock` if not enough is available.
#[utoipa::path(post, path = "/api/v1/inventory/reservations", tag = "inventory",
    security(("bearer" = [])),
    request_body = NewReservation,
    responses((status = 201, body = Reservation), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(org = %caller.org))]
pub(crate) async fn reserve(
    State(state): State<AppState>,
    Planner(caller): Planner,
    Json(req): Json<NewReservation>,
) -> Result<(StatusCode, Json<Reservation>), AppError> {
    let mut tx = state.db.begin().await?;
    let mut w = Writer::begin(&mut tx, caller.org, actor(&caller)).await?;
    let r = reservations::create(&mut tx, &mut w, &req).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(r)))
}

/// Why a reservation is released.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct Release {
    #[serde(default)]
    pub reason: Option<String>,
}

/// Release an active reservation (warehouse, admin, dispatcher).
#[utoipa::path(post, path = "/api/v1/inventory/reservations/{id}/release", tag = "inventory",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body = Release,
    responses((status = 200, body = Reservation), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn release_reservation(
    State(state): State<AppState>,
    Planner(caller): Planner,
    Path(id): Path<String>,
    Json(req): Json<Release>,
) -> Result<Json<Reservation>, AppError> {
    let mut tx = state.db.begin().await?;
    let mut w = Writer::begin(&mut tx, caller.org, actor(&caller)).await?;
    let reason = req
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .unwrap_or("released");
    let r = reservations::release(&mut tx, &mut w, &id, reason).await?;
    tx.commit().await?;
    Ok(Json(r))
}

/// Parts requests from the field, pending ones first in line (warehouse, admin, dispatcher).
#[utoipa::path(get, path = "/api/v1/inventory/parts-requests", tag = "inventory",
    security(("bearer" = [])),
    params(RequestFilter),
    responses((status = 200, body = Paged<PartsRequest>), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn list_requests(
    State(state): State<AppState>,
    Planner(caller): Planner,
    Query(filter): Query<RequestFilter>,
) -> Result<Json<Paged<PartsRequest>>, AppError> {
    let mut conn = state.db.pool().acquire().await?;
    let (total, items) = requests::list(&mut conn, caller.org, &filter).await?;
    Ok(Json(Paged { total, items }))
}

/// Approve, partly approve (`approved_qty` below the request) or reject (0) a parts request
/// (warehouse, admin). The decision goes into the work order and what is approved is issued
/// to the engineer's van, together or not at all.
#[utoipa::path(post, path = "/api/v1/inventory/parts-requests/{id}/decide", tag = "inventory",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body = Decision,
    responses((status = 200, body = Decided), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "already_decided, insufficient_stock"),
              (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(org = %caller.org, request = %id))]
pub(crate) async fn decide_request(
    State(state): State<AppState>,
    Stockkeeper(caller): Stockkeeper,
    Path(id): Path<String>,
    Json(req): Json<Decision>,
) -> Result<Json<Decided>, AppError> {
    Ok(Json(
        requests::decide(&state, caller.org, caller.user, caller.role, &id, &req).await?,
    ))
}

/// Discrepancies to work through, oldest first (warehouse, admin).
#[utoipa::path(get, path = "/api/v1/inventory/discrepancies", tag = "inventory",
    security(("bearer" = [])),
    params(DiscrepancyFilter),
    responses((status = 200, body = Paged<Discrepancy>), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn list_discrepancies(
    State(state): State<AppState>,
    Stockkeeper(caller): Stockkeeper,
    Query(filter): Query<DiscrepancyFilter>,
) -> Result<Json<Paged<Discrepancy>>, AppError> {
    let mut conn = state.db.pool().acquire().await?;
    let (total, items) = discrepancies::list(&mut conn, caller.org, &filter).await?;
    Ok(Json(Paged { total, items }))
}

/// Resolve a discrepancy with a note (warehouse, admin); `post_as_sku` posts the held lines
/// of an `unknown_sku` discrepancy as that part.
#[utoipa::path(post, path = "/api/v1/inventory/discrepancies/{id}/resolve", tag = "inventory",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body = Resolve,
    responses((status = 200, body = Discrepancy), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(org = %caller.org, discrepancy = %id))]
pub(crate) async fn resolve_discrepancy(
    State(state): State<AppState>,
    Stockkeeper(caller): Stockkeeper,
    Path(id): Path<String>,
    Json(req): Json<Resolve>,
) -> Result<Json<Discrepancy>, AppError> {
    let mut tx = state.db.begin().await?;
    let mut w = Writer::begin(&mut tx, caller.org, actor(&caller)).await?;
    let d = discrepancies::resolve(&mut tx, &mut w, &id, &req).await?;
    tx.commit().await?;
    Ok(Json(d))
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Events after this id (default 0: from the start).
    pub after: Option<i64>,
    /// low_stock, discrepancy_opened, discrepancy_resolved, parts_request_decided,
    /// reservation_closed.
    pub kind: Option<String>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// The inventory event outbox, in order (warehouse, admin): what notifications and workflows
/// read.
#[utoipa::path(get, path = "/api/v1/inventory/events", tag = "inventory",
    security(("bearer" = [])),
    params(EventQuery),
    responses((status = 200, body = Vec<InventoryEvent>), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_events(
    State(state): State<AppState>,
    Stockkeeper(caller): Stockkeeper,
    Query(q): Query<EventQuery>,
) -> Result<Json<Vec<InventoryEvent>>, AppError> {
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(
        events::list(
            &mut conn,
            caller.org,
            q.after.unwrap_or(0),
            q.kind.as_deref().filter(|k| !k.is_empty()),
            q.limit.unwrap_or(100),
        )
        .await?,
    ))
}
