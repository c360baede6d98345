//! Customers and their sites (reference data for creating work orders).

use super::Page;
use crate::accounts::{self, Customer};
use crate::auth::Office;
use crate::error::{AppError, ErrorBody, Json, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_customers, create_customer))
}

/// Customers with their sites, by name (admin, dispatcher).
#[utoipa::path(get, path = "/api/v1/customers", tag = "customers",
    security(("bearer" = [])),
    params(Page),
    responses((status = 200, body = Vec<Customer>), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_customers(
    State(state): State<AppState>,
    Office(caller): Office,
    Query(page): Query<Page>,
) -> Result<Json<Vec<Customer>>, AppError> {
    Ok(Json(
        accounts::list_customers(&state.db, caller.org, page.limit(), page.offset()).await?,
    ))
}

/// Create a customer with its sites (admin, dispatcher). An empty `id` gets a generated one;
/// an id that exists is 409.
#[utoipa::path(post, path = "/api/v1/customers", tag = "customers",
    security(("bearer" = [])),
    request_body = Customer,
    responses((status = 201, body = Customer), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_customer(
    State(state): State<AppState>,
    Office(caller): Office,
    Json(req): Json<Customer>,
) -> Result<(StatusCode, Json<Customer>), AppError> {
    let mut tx = state.db.begin().await?;
    let customer = accounts::create_customer(&mut tx, caller.org, &req).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(customer)))
}
