//! Territories: polygons that restrict or prefer engineers for sites inside them, and scope
//! dispatchers (a dispatcher whose user record names a territory sees only orders in it).

use super::parse_path_id;
use crate::auth::Office;
use crate::error::{AppError, ErrorBody, Json};
use crate::state::AppState;
use crate::territories::{self, TerritoryOut};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use sync_core::UserId;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_territories, create_territory))
        .routes(routes!(delete_territory))
        .routes(routes!(set_engineer_territories))
}

#[derive(Deserialize, ToSchema)]
pub struct CreateTerritory {
    pub name: String,
    /// `restrict` or `prefer`.
    pub mode: String,
    /// GeoJSON Polygon or MultiPolygon (or a Feature holding one), `[lon, lat]` degrees.
    #[schema(value_type = Object)]
    pub area: serde_json::Value,
}

#[derive(Deserialize, ToSchema)]
pub struct EngineerTerritories {
    pub territory_ids: Vec<String>,
}

/// The organisation's territories (admin, dispatcher).
#[utoipa::path(get, path = "/api/v1/territories", tag = "dispatch",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<TerritoryOut>), (status = 403, body = ErrorBody)))]
async fn list_territories(
    State(state): State<AppState>,
    Office(caller): Office,
) -> Result<Json<Vec<TerritoryOut>>, AppError> {
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(territories::list(&mut conn, caller.org).await?))
}

/// Create a territory (admin, dispatcher); orders inside it are re-projected at once. 409 if the
/// name exists, 422 for an area that is not a valid polygon.
#[utoipa::path(post, path = "/api/v1/territories", tag = "dispatch",
    security(("bearer" = [])),
    request_body = CreateTerritory,
    responses((status = 201, body = TerritoryOut), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_territory(
    State(state): State<AppState>,
    Office(caller): Office,
    Json(req): Json<CreateTerritory>,
) -> Result<(StatusCode, Json<TerritoryOut>), AppError> {
    let mut tx = state.db.begin().await?;
    let t = territories::create(&mut tx, caller.org, &req.name, &req.mode, &req.area).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// Delete a territory (admin, dispatcher).
#[utoipa::path(delete, path = "/api/v1/territories/{id}", tag = "dispatch",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "territory id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_territory(
    State(state): State<AppState>,
    Office(caller): Office,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let mut tx = state.db.begin().await?;
    if !territories::delete(&mut tx, caller.org, &id).await? {
        return Err(AppError::NotFound("territory"));
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace the territories an engineer works in (admin, dispatcher).
#[utoipa::path(put, path = "/api/v1/engineers/{id}/territories", tag = "engineers",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "engineer id")),
    request_body = EngineerTerritories,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn set_engineer_territories(
    State(state): State<AppState>,
    Office(caller): Office,
    Path(id): Path<String>,
    Json(req): Json<EngineerTerritories>,
) -> Result<StatusCode, AppError> {
    let engineer: UserId = parse_path_id(&id, "engineer")?;
    let mut tx = state.db.begin().await?;
    if !crate::accounts::is_engineer(&mut tx, caller.org, engineer).await? {
        return Err(AppError::NotFound("engineer"));
    }
    territories::set_engineer_territories(&mut tx, caller.org, engineer, &req.territory_ids)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
