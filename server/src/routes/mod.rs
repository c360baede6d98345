//! The HTTP API: one router per area, merged in [`app`]. Each area registers its routes together
//! with their OpenAPI description (utoipa-axum), so `/openapi.json` lists exactly the routes
//! that exist.
//!
//! A new area (the sync endpoint, suggestions, inventory ...) is a module with a
//! `router() -> OpenApiRouter<AppState>` and one more `.merge(...)` line below.

pub(crate) mod auth;
pub(crate) mod blobs;
pub(crate) mod customers;
pub(crate) mod dispatch;
pub(crate) mod engineers;
pub(crate) mod inventory;
pub(crate) mod suggestions;
mod sync;
mod system;
mod territories;

use crate::error::AppError;
use crate::state::AppState;
use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderName, Request};
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every API route with its OpenAPI description, before state and layers.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(base_document())
        .merge(system::router())
        .merge(auth::router())
        .merge(dispatch::router())
        .merge(engineers::router())
        .merge(customers::router())
        .merge(inventory::router())
        .merge(sync::router())
        .merge(suggestions::router())
        .merge(territories::router())
        .merge(blobs::router())
}

fn base_document() -> OpenApi {
    let mut doc = utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("Lastmile API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Errors are JSON `{\"code\", \"message\"}` with a stable snake_case code. \
                     Authenticate with `Authorization: Bearer <token>` from /api/v1/auth/login \
                     or /api/v1/devices.",
                ))
                .build(),
        )
        .build();
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    doc
}

/// The OpenAPI document of every route (what `/openapi.json` serves).
pub fn openapi() -> OpenApi {
    api().into_openapi()
}

/// The whole application: routes, state and middleware. Tests drive it with
/// `tower::ServiceExt::oneshot`; [`crate::serve`] puts it on a socket.
pub fn app(state: AppState) -> Router {
    let (router, _) = api().split_for_parts();
    let max_body = state.settings.max_body_bytes;
    router
        // The web console: HTML pages over the same handlers, not in the OpenAPI document.
        .merge(crate::console::router(state.clone()))
        .fallback(|| async { AppError::NotFound("route") })
        .method_not_allowed_fallback(|| async {
            AppError::Json {
                status: axum::http::StatusCode::METHOD_NOT_ALLOWED,
                code: "method_not_allowed",
                message: "this method is not allowed here".into(),
            }
        })
        .with_state(state)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
                .make_span_with(|req: &Request<_>| {
                    let request_id = req
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        path = %req.uri().path(),
                        request_id = %request_id,
                    )
                }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// The client's address (for login throttling). Proxy headers are not trusted.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ci| ci.0.ip())
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        ))
    }
}

/// `?limit=&offset=` with bounds.
#[derive(Clone, Copy, Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// At most this many items (default 100, at most 1000).
    pub limit: Option<i64>,
    /// Skip this many items.
    pub offset: Option<i64>,
}

impl Page {
    pub fn limit(&self) -> i64 {
        self.limit.unwrap_or(100).clamp(1, 1000)
    }

    pub fn offset(&self) -> i64 {
        self.offset.unwrap_or(0).max(0)
    }
}

/// Parse an id from a path or body, as 404 (path) or 422 (body) when malformed.
fn parse_path_id<T: std::str::FromStr>(s: &str, what: &'static str) -> Result<T, AppError> {
    s.parse().map_err(|_| AppError::NotFound(what))
}

fn parse_body_id<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, AppError> {
    s.parse()
        .map_err(|_| AppError::Invalid(format!("{what} is not a valid id")))
}
