//! Stock: balances by location, the ledger's movements, the warehouse's operations (receive,
//! issue, transfer, returns, supplier returns, adjustments), low stock, consumption reports and
//! serial histories.

use super::{Paged, Planner, StockReader, Stockkeeper, actor, own_van};
use crate::error::{AppError, ErrorBody, Json, Query};
use crate::inventory::ledger::Writer;
use crate::inventory::operations::{
    self, Adjustment, Issue, Outcome, Receipt, Return, SupplierReturn, Transfer,
};
use crate::inventory::reports::{
    self, LowStockLine, MovementFilter, MovementRow, StockFilter, StockLine,
};
use crate::inventory::reservations;
use crate::inventory::serials::{self, SerialHistory};
use crate::inventory::usage::{self, ConsumptionQuery, ConsumptionRow};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_stock))
        .routes(routes!(list_movements))
        .routes(routes!(receive))
        .routes(routes!(issue))
        .routes(routes!(transfer))
        .routes(routes!(take_return))
        .routes(routes!(supplier_return))
        .routes(routes!(adjust))
        .routes(routes!(low_stock))
        .routes(routes!(serial_history))
        .routes(routes!(consumption_report))
}

/// Stock by location and part, with reservations, reorder levels and serial numbers
/// (warehouse, admin, dispatcher; an engineer sees their own van).
#[utoipa::path(get, path = "/api/v1/inventory/stock", tag = "inventory",
    security(("bearer" = [])),
    params(StockFilter),
    responses((status = 200, body = Paged<StockLine>), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn list_stock(
    State(state): State<AppState>,
    StockReader(caller): StockReader,
    Query(filter): Query<StockFilter>,
) -> Result<Json<Paged<StockLine>>, AppError> {
    let only = match own_van(&state, &caller).await? {
        Some(None) => {
            return Ok(Json(Paged {
                total: 0,
                items: Vec::new(),
            }));
        }
        Some(Some(van)) => Some(van),
        None => None,
    };
    reservations::sweep_if_due(&state.db, caller.org).await?;
    let mut conn = state.db.pool().acquire().await?;
    let (total, items) = reports::stock(&mut conn, caller.org, &filter, only.as_deref()).await?;
    Ok(Json(Paged { total, items }))
}

/// The ledger, newest first, with filters (warehouse, admin, dispatcher; an engineer sees the
/// movements of their own van).
#[utoipa::path(get, path = "/api/v1/inventory/movements", tag = "inventory",
    security(("bearer" = [])),
    params(MovementFilter),
    responses((status = 200, body = Paged<MovementRow>), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn list_movements(
    State(state): State<AppState>,
    StockReader(caller): StockReader,
    Query(filter): Query<MovementFilter>,
) -> Result<Json<Paged<MovementRow>>, AppError> {
    let only = match own_van(&state, &caller).await? {
        Some(None) => {
            return Ok(Json(Paged {
                total: 0,
                items: Vec::new(),
            }));
        }
        Some(Some(van)) => Some(van),
        None => None,
    };
    let mut conn = state.db.pool().acquire().await?;
    let (total, items) =
        reports::movements(&mut conn, caller.org, &filter, only.as_deref()).await?;
    Ok(Json(Paged { total, items }))
}

/// Run one stock operation in its own transaction, and tell the phones of the vans it changed.
macro_rules! operation {
    ($state:expr, $caller:expr, $op:path, $body:expr) => {{
        let mut tx = $state.db.begin().await?;
        let mut w = Writer::begin(&mut tx, $caller.org, actor(&$caller)).await?;
        let out = $op(&mut tx, &mut w, &$body).await?;
        operations::commit(&$state, tx, $caller.org, &out).await?;
        Ok((StatusCode::CREATED, Json(out)))
    }};
}

/// Receive parts from a supplier into a warehouse (warehouse, admin).
#[utoipa::path(post, path = "/api/v1/inventory/receipts", tag = "inventory",
    security(("bearer" = [])),
    request_body = Receipt,
    responses((status = 201, body = Outcome), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "serial_in_stock"),
              (status = 422, body = ErrorBody,
               description = "unknown_sku, invalid_quantity, wrong_unit, invalid_serials ...")))]
#[tracing::instrument(skip_all, fields(org = %caller.org))]
pub(crate) async fn receive(
    State(state): State<AppState>,
    Stockkeeper(caller): Stockkeeper,
    Json(body): Json<Receipt>,
) -> Result<(StatusCode, Json<Outcome>), AppError> {
    operation!(state, caller, operations::receive, body)
}

/// Issue parts from a warehouse to a van, against a work order's reservations first
/// (warehouse, admin). 409 `insufficient_stock` when the warehouse does not have them.
#[utoipa::path(post, path = "/api/v1/inventory/issues", tag = "inventory",
    security(("bearer" = [])),
    request_body = Issue,
    responses((status = 201, body = Outcome), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "insufficient_stock"),
              (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(org = %caller.org))]
pub(crate) async fn issue(
    State(state): State<AppState>,
    Stockkeeper(caller): Stockkeeper,
    Json(body): Json<Issue>,
) -> Result<(StatusCode, Json<Outcome>), AppError> {
    operation!(state, caller, operations::issue, body)
}

/// Move good stock between warehouses and vans (warehouse, admin).
#[utoipa::path(post, path = "/api/v1/inventory/transfers", tag = "inventory",
    security(("bearer" = [])),
    request_body = Transfer,
    responses((status = 201, body = Outcome), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(org = %caller.org))]
pub(crate) async fn transfer(
    State(state): State<AppState>,
    Stockkeeper(caller): Stockkeeper,
    Json(body): Json<Transfer>,
) -> Result<(StatusCode, Json<Outcome>), AppError> {
    operation!(state, caller, operations::transfer, body)
}

/// Take parts back from a van: good to a warehouse, defective to quarantine (warehouse,
/// admin). 422 `serial_not_in_location` for a serial that is not in that van.
#[utoipa::path(post, path = "/api/v1/inventory/returns", tag = "inventory",
    security(("bearer" = [])),
    request_body = Return,
    responses((status = 201, body = Outcome), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(org = %caller.org))]
pub(crate) async fn take_return(
    State(state): State<AppState>,
    Stockkeeper(caller): Stockkeeper,
    Json(body): Json<Return>,
) -> Result<(StatusCode, Json<Outcome>), AppError> {
    operation!(state, caller, operations::take_return, body)
}

/// Send parts back to the supplier, usually defective ones from quarantine under warranty
/// (warehouse, admin).
#[utoipa::path(post, path = "/api/v1/inventory/supplier-returns", tag = "inventory",
    security(("bearer" = [])),
    request_body = SupplierReturn,
    responses((status = 201, body = Outcome), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(org = %caller.org))]
pub(crate) async fn supplier_return(
    State(state): State<AppState>,
    Stockkeeper(caller): Stockkeeper,
    Json(body): Json<SupplierReturn>,
) -> Result<(StatusCode, Json<Outcome>), AppError> {
    operation!(state, caller, operations::supplier_return, body)
}

/// Adjust stock after a count, with a reason (warehouse, admin).
#[utoipa::path(post, path = "/api/v1/inventory/adjustments", tag = "inventory",
    security(("bearer" = [])),
    request_body = Adjustment,
    responses((status = 201, body = Outcome), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(org = %caller.org))]
pub(crate) async fn adjust(
    State(state): State<AppState>,
    Stockkeeper(caller): Stockkeeper,
    Json(body): Json<Adjustment>,
) -> Result<(StatusCode, Json<Outcome>), AppError> {
    operation!(state, caller, operations::adjust, body)
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LowStockQuery {
    /// Only this location (id or code).
    pub location: Option<String>,
}

/// Parts whose available stock (balance minus reservations) is below the reorder point, per
/// location, with what to order (warehouse, admin, dispatcher).
#[utoipa::path(get, path = "/api/v1/inventory/low-stock", tag = "inventory",
    security(("bearer" = [])),
    params(LowStockQuery),
    responses((status = 200, body = Vec<LowStockLine>), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn low_stock(
    State(state): State<AppState>,
    Planner(caller): Planner,
    Query(q): Query<LowStockQuery>,
) -> Result<Json<Vec<LowStockLine>>, AppError> {
    reservations::sweep_if_due(&state.db, caller.org).await?;
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(
        reports::low_stock(&mut conn, caller.org, q.location.as_deref()).await?,
    ))
}

/// The full history of a serial number: supplier receipt, issue, installation (work order,
/// customer, asset), removal, return, quarantine, back to the supplier (warehouse, admin,
/// dispatcher).
#[utoipa::path(get, path = "/api/v1/inventory/serials/{serial}", tag = "inventory",
    security(("bearer" = [])),
    params(("serial" = String, Path)),
    responses((status = 200, body = SerialHistory), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn serial_history(
    State(state): State<AppState>,
    Planner(caller): Planner,
    Path(serial): Path<String>,
) -> Result<Json<SerialHistory>, AppError> {
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(
        serials::serial_history(&mut conn, caller.org, &serial).await?,
    ))
}

/// Parts consumed at work orders, net of voided lines, by part, engineer, customer, work order
/// or period (warehouse, admin, dispatcher).
#[utoipa::path(get, path = "/api/v1/inventory/reports/consumption", tag = "inventory",
    security(("bearer" = [])),
    params(ConsumptionQuery),
    responses((status = 200, body = Vec<ConsumptionRow>), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn consumption_report(
    State(state): State<AppState>,
    Planner(caller): Planner,
    Query(q): Query<ConsumptionQuery>,
) -> Result<Json<Vec<ConsumptionRow>>, AppError> {
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(usage::consumption(&mut conn, caller.org, &q).await?))
}
