//! Spare parts over HTTP: the catalog (with CSV import and export) and locations here; stock,
//! movements and reports in `inventory/stock.rs`; reservations, parts requests,
//! discrepancies and events in `inventory/workflow.rs`. The logic is in `crate::inventory`;
//! these handlers check who is calling and translate.
//!
//! | guard | roles |
//! |---|---|
//! | [`Stockkeeper`] | warehouse, admin: everything |
//! | [`Planner`] | warehouse, admin, dispatcher: read stock, reserve, reports |
//! | [`StockReader`] | the above and engineers, who see the catalog and only their own van |

pub(crate) mod stock;
pub(crate) mod workflow;

use crate::auth::Caller;
use crate::error::{AppError, ErrorBody, Json, Query};
use crate::inventory::catalog::{self, NewPart, Part, PartFilter, PartPatch};
use crate::inventory::imports::{self, ImportJob, Mode, RowError};
use crate::inventory::ledger::Writer;
use crate::inventory::locations::{self, Location, LocationKind, NewLocation};
use crate::inventory::{Actor, reports};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use sync_core::Role;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Largest catalog CSV accepted (a 50,000-part catalog is about 6 MB).
const MAX_CSV_BYTES: usize = 32 * 1024 * 1024;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        // Only the import takes a large body; the layer covers the routes added before it.
        .routes(routes!(import_catalog))
        .layer(DefaultBodyLimit::max(MAX_CSV_BYTES))
        .routes(routes!(list_parts, create_part))
        .routes(routes!(get_part, update_part, withdraw_part))
        .routes(routes!(export_catalog))
        .routes(routes!(get_import))
        .routes(routes!(import_errors))
        .routes(routes!(list_locations, create_location))
        .routes(routes!(get_location))
        .routes(routes!(set_level))
        .merge(stock::router())
        .merge(workflow::router())
}

// ----- who may call -----

macro_rules! guard {
    ($(#[$doc:meta])* $name:ident: $($role:ident)|+) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name(pub Caller);

        impl FromRequestParts<AppState> for $name {
            type Rejection = AppError;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &AppState,
            ) -> Result<Self, AppError> {
                let caller = Caller::from_request_parts(parts, state).await?;
                if matches!(caller.role, $(Role::$role)|+) {
                    Ok($name(caller))
                } else {
                    Err(AppError::Forbidden)
                }
            }
        }
    };
}

guard!(
    /// Warehouse staff or an admin: may change stock and the catalog.
    Stockkeeper: Warehouse | Admin
);
guard!(
    /// Warehouse staff, an admin or a dispatcher: reads stock, reserves parts, runs reports.
    Planner: Warehouse | Admin | Dispatcher
);
guard!(
    /// A planner, or an engineer (the catalog, and their own van only).
    StockReader: Warehouse | Admin | Dispatcher | Engineer
);

fn actor(caller: &Caller) -> Actor {
    Actor::user(caller.user, caller.role)
}

/// For an engineer: the id of their van (`Some(None)` if they have none yet); for everyone
/// else `None` (no restriction).
pub(crate) async fn own_van(
    state: &AppState,
    caller: &Caller,
) -> Result<Option<Option<String>>, AppError> {
    if caller.role != Role::Engineer {
        return Ok(None);
    }
    let mut conn = state.db.pool().acquire().await?;
    Ok(Some(
        locations::van_of(&mut conn, caller.org, caller.user)
            .await?
            .map(|l| l.id),
    ))
}

/// A page of results with the total matching.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Paged<T> {
    pub total: i64,
    pub items: Vec<T>,
}

// ----- catalog -----

/// Search the catalog (warehouse, admin, dispatcher, engineer).
#[utoipa::path(get, path = "/api/v1/inventory/parts", tag = "inventory",
    security(("bearer" = [])),
    params(PartFilter),
    responses((status = 200, body = Paged<Part>), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_parts(
    State(state): State<AppState>,
    StockReader(caller): StockReader,
    Query(filter): Query<PartFilter>,
) -> Result<Json<Paged<Part>>, AppError> {
    let mut conn = state.db.pool().acquire().await?;
    let (total, items) = catalog::list(&mut conn, caller.org, &filter).await?;
    Ok(Json(Paged { total, items }))
}

/// Add a part to the catalog (warehouse, admin). 409 if the SKU exists.
#[utoipa::path(post, path = "/api/v1/inventory/parts", tag = "inventory",
    security(("bearer" = [])),
    request_body = NewPart,
    responses((status = 201, body = Part), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(org = %caller.org))]
pub(crate) async fn create_part(
    State(state): State<AppState>,
    Stockkeeper(caller): Stockkeeper,
    Json(req): Json<NewPart>,
) -> Result<(StatusCode, Json<Part>), AppError> {
    let mut tx = state.db.begin().await?;
    let w = Writer::begin(&mut tx, caller.org, actor(&caller)).await?;
    let part = catalog::create(&mut tx, caller.org, w.seq, &req).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(part)))
}

/// One part, withdrawn or not (warehouse, admin, dispatcher, engineer).
#[utoipa::path(get, path = "/api/v1/inventory/parts/{sku}", tag = "inventory",
    security(("bearer" = [])),
    params(("sku" = String, Path)),
    responses((status = 200, body = Part), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn get_part(
    State(state): State<AppState>,
    StockReader(caller): StockReader,
    Path(sku): Path<String>,
) -> Result<Json<Part>, AppError> {
    let mut conn = state.db.pool().acquire().await?;
    catalog::get(&mut conn, caller.org, &sku)
        .await?
        .map(Json)
        .ok_or(AppError::NotFound("part"))
}

/// Change a part (warehouse, admin). Unit and serial tracking change only while no location
/// holds the part (409 `stock_on_hand`).
#[utoipa::path(patch, path = "/api/v1/inventory/parts/{sku}", tag = "inventory",
    security(("bearer" = [])),
    params(("sku" = String, Path)),
    request_body = PartPatch,
    responses((status = 200, body = Part), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(org = %caller.org, sku = %sku))]
pub(crate) async fn update_part(
    State(state): State<AppState>,
    Stockkeeper(caller): Stockkeeper,
    Path(sku): Path<String>,
    Json(req): Json<PartPatch>,
) -> Result<Json<Part>, AppError> {
    let mut tx = state.db.begin().await?;
    let w = Writer::begin(&mut tx, caller.org, actor(&caller)).await?;
    let part = catalog::update(&mut tx, caller.org, w.seq, &sku, &req).await?;
    tx.commit().await?;
    Ok(Json(part))
}

/// Withdraw a part from the catalog (warehouse, admin): phones drop it, the ledger keeps it.
/// 409 `stock_on_hand` while a location holds it.
#[utoipa::path(delete, path = "/api/v1/inventory/parts/{sku}", tag = "inventory",
    security(("bearer" = [])),
    params(("sku" = String, Path)),
    responses((status = 200, body = Part), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(org = %caller.org, sku = %sku))]
pub(crate) async fn withdraw_part(
    State(state): State<AppState>,
    Stockkeeper(caller): Stockkeeper,
    Path(sku): Path<String>,
) -> Result<Json<Part>, AppError> {
    let mut tx = state.db.begin().await?;
    let w = Writer::begin(&mut tx, caller.org, actor(&caller)).await?;
    let part = catalog::withdraw(&mut tx, caller.org, w.seq, &sku).await?;
    tx.commit().await?;
    Ok(Json(part))
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Write the reorder levels of this location (id or code).
    pub location: Option<String>,
}

/// The catalog as CSV, in the import's format (warehouse, admin).
#[utoipa::path(get, path = "/api/v1/inventory/catalog/export", tag = "inventory",
    security(("bearer" = [])),
    params(ExportQuery),
    responses((status = 200, description = "CSV", content_type = "text/csv"),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn export_catalog(
    State(state): State<AppState>,
    Stockkeeper(caller): Stockkeeper,
    Query(q): Query<ExportQuery>,
) -> Result<impl IntoResponse, AppError> {
    let mut conn = state.db.pool().acquire().await?;
    let csv = imports::export(&mut conn, caller.org, q.location.as_deref()).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"catalog.csv\"",
            ),
        ],
        csv,
    ))
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// all_or_nothing (default) or skip_bad_rows.
    pub mode: Option<String>,
    /// Where the file's reorder levels apply (id or code); default: the only warehouse.
    pub location: Option<String>,
}

/// Import a catalog CSV (warehouse, admin): 202 with the job to poll. A file whose header is
/// wrong is 422 `csv_invalid` at once; bad rows are listed by the job with their line numbers.
#[utoipa::path(post, path = "/api/v1/inventory/catalog/imports", tag = "inventory",
    security(("bearer" = [])),
    params(ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 202, body = ImportJob), (status = 403, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(org = %caller.org, bytes = body.len()))]
pub(crate) async fn import_catalog(
    State(state): State<AppState>,
    Stockkeeper(caller): Stockkeeper,
    Query(q): Query<ImportQuery>,
    body: Bytes,
) -> Result<(StatusCode, Json<ImportJob>), AppError> {
    let mode = match q.mode.as_deref() {
        None | Some("") => Mode::AllOrNothing,
        Some(m) => Mode::parse(m).ok_or_else(|| {
            AppError::Invalid(format!(
                "unknown mode {m:?}: all_or_nothing or skip_bad_rows"
            ))
        })?,
    };
    let job = imports::start(
        &state.db,
        caller.org,
        caller.user,
        mode,
        q.location.as_deref(),
        body.to_vec(),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

/// An import job: progress (`processed` of `total`), outcome and its first bad rows.
#[utoipa::path(get, path = "/api/v1/inventory/catalog/imports/{id}", tag = "inventory",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ImportJob), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn get_import(
    State(state): State<AppState>,
    Stockkeeper(caller): Stockkeeper,
    Path(id): Path<String>,
) -> Result<Json<ImportJob>, AppError> {
    let mut conn = state.db.pool().acquire().await?;
    imports::get(&mut conn, caller.org, &id)
        .await?
        .map(Json)
        .ok_or(AppError::NotFound("import job"))
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ErrorsQuery {
    /// At most this many (default 1000, at most 10,000).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Every bad row of an import, by line number.
#[utoipa::path(get, path = "/api/v1/inventory/catalog/imports/{id}/errors", tag = "inventory",
    security(("bearer" = [])),
    params(("id" = String, Path), ErrorsQuery),
    responses((status = 200, body = Vec<RowError>), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn import_errors(
    State(state): State<AppState>,
    Stockkeeper(caller): Stockkeeper,
    Path(id): Path<String>,
    Query(q): Query<ErrorsQuery>,
) -> Result<Json<Vec<RowError>>, AppError> {
    let mut conn = state.db.pool().acquire().await?;
    if imports::get(&mut conn, caller.org, &id).await?.is_none() {
        return Err(AppError::NotFound("import job"));
    }
    let errors = imports::errors(
        &mut conn,
        caller.org,
        &id,
        q.limit.unwrap_or(1000),
        q.offset.unwrap_or(0),
    )
    .await?;
    Ok(Json(errors))
}

// ----- locations -----

#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LocationQuery {
    /// warehouse, quarantine or van.
    pub kind: Option<String>,
}

/// Stock locations (warehouse, admin, dispatcher; an engineer sees their own van). Every
/// engineer has a van: missing ones are created here.
#[utoipa::path(get, path = "/api/v1/inventory/locations", tag = "inventory",
    security(("bearer" = [])),
    params(LocationQuery),
    responses((status = 200, body = Vec<Location>), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn list_locations(
    State(state): State<AppState>,
    StockReader(caller): StockReader,
    Query(q): Query<LocationQuery>,
) -> Result<Json<Vec<Location>>, AppError> {
    let kind = match q.kind.as_deref().filter(|k| !k.is_empty()) {
        None => None,
        Some(k) => Some(
            LocationKind::parse(k)
                .ok_or_else(|| AppError::Invalid(format!("unknown location kind {k:?}")))?,
        ),
    };
    let engineer = (caller.role == Role::Engineer).then_some(caller.user);
    if engineer.is_some() || kind.is_none() || kind == Some(LocationKind::Van) {
        locations::ensure_vans(&state.db, caller.org).await?;
    }
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(
        locations::list(&mut conn, caller.org, kind, engineer).await?,
    ))
}

/// Add a warehouse or quarantine location (or a van for an engineer who has none) (warehouse,
/// admin). 409 if the code exists.
#[utoipa::path(post, path = "/api/v1/inventory/locations", tag = "inventory",
    security(("bearer" = [])),
    request_body = NewLocation,
    responses((status = 201, body = Location), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_location(
    State(state): State<AppState>,
    Stockkeeper(caller): Stockkeeper,
    Json(req): Json<NewLocation>,
) -> Result<(StatusCode, Json<Location>), AppError> {
    let mut tx = state.db.begin().await?;
    let loc = locations::create(&mut tx, caller.org, &req).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(loc)))
}

/// One location by id or code (an engineer: only their van).
#[utoipa::path(get, path = "/api/v1/inventory/locations/{id}", tag = "inventory",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "location id or code")),
    responses((status = 200, body = Location), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn get_location(
    State(state): State<AppState>,
    StockReader(caller): StockReader,
    Path(id): Path<String>,
) -> Result<Json<Location>, AppError> {
    let mut conn = state.db.pool().acquire().await?;
    let loc = locations::find(&mut conn, caller.org, &id)
        .await?
        .ok_or(AppError::NotFound("location"))?;
    if caller.role == Role::Engineer && loc.engineer_id != Some(caller.user.to_string()) {
        return Err(AppError::NotFound("location"));
    }
    Ok(Json(loc))
}

/// A reorder point and quantity (minor units).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Level {
    pub reorder_point: i64,
    pub reorder_qty: i64,
}

/// Set the reorder point and quantity of a part at a location (warehouse, admin).
#[utoipa::path(put, path = "/api/v1/inventory/locations/{id}/levels/{sku}", tag = "inventory",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "location id or code"), ("sku" = String, Path)),
    request_body = Level,
    responses((status = 200, body = Level), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn set_level(
    State(state): State<AppState>,
    Stockkeeper(caller): Stockkeeper,
    Path((id, sku)): Path<(String, String)>,
    Json(req): Json<Level>,
) -> Result<Json<Level>, AppError> {
    let mut tx = state.db.begin().await?;
    let loc = locations::find(&mut tx, caller.org, &id)
        .await?
        .ok_or(AppError::NotFound("location"))?;
    let part = catalog::get(&mut tx, caller.org, &sku)
        .await?
        .ok_or(AppError::NotFound("part"))?;
    reports::set_level(
        &mut tx,
        caller.org,
        &loc.id,
        &part.sku,
        req.reorder_point,
        req.reorder_qty,
    )
    .await?;
    tx.commit().await?;
    Ok(Json(req))
}
