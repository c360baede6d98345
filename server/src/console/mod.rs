//! The web console: server-rendered HTML (maud) for dispatchers and warehouse staff, with a
//! little JavaScript of our own (drag and drop, the live board, the CSV import's progress bar).
//! Not part of the OpenAPI document.
//!
//! The console is a cookie-authenticated skin over the API's own handlers. The [`session`]
//! middleware turns the session cookie into the same [`crate::auth::Caller`] the bearer token
//! gives the API and puts it in the request's extensions; console handlers then take the API's
//! role guards (`Office`, `Stockkeeper`, `Planner`) and call the API handler functions
//! themselves, so who may see and change what (organisation, role, dispatcher territory and
//! team) is decided by exactly the code that decides it for the API. Errors come back as the
//! API's `AppError`; the middleware renders them as localized HTML pages (or, for the
//! console's own `fetch` calls, leaves them as JSON). See `docs/console.md`.

mod assets;
mod assign;
mod board;
mod engineers;
mod events;
mod fmt;
mod i18n;
mod layout;
mod map;
mod orders;
mod orders_edit;
mod prefs;
mod session;
mod stock;
mod stock_forms;
mod warehouse;

pub use i18n::Lang;
pub use session::{CSRF_HEADER, SESSION_COOKIE, csrf_token};

use crate::state::AppState;
use axum::Router;
use axum::routing::{get, post};
use std::collections::HashMap;
use sync_core::OrgId;

/// Users' names by id in one organisation, for pages that show who did what (the API's records
/// carry ids). The one query of the console's own, besides the live board's sequence check.
async fn user_names(state: &AppState, org: OrgId) -> HashMap<String, String> {
    sqlx::query_as::<_, (String, String)>("SELECT id, name FROM users WHERE org_id = $1")
        .bind(org.to_string())
        .fetch_all(state.db.pool())
        .await
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// Every console route. Merged into [`crate::routes::app`] beside the API.
pub fn router(state: AppState) -> Router<AppState> {
    let pages = Router::new()
        .route("/", get(session::root))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/lang/{code}", get(session::set_lang))
        .route("/console", get(session::home))
        .route("/console/assets/{file}", get(assets::serve))
        .route("/console/events", get(events::events))
        .route("/console/preferences", get(prefs::page).post(prefs::save))
        .route("/console/board", get(board::page))
        .route("/console/board/fragment", get(board::fragment))
        .route("/console/map", get(map::page))
        .route(
            "/console/orders/new",
            get(orders_edit::new_page).post(orders_edit::create),
        )
        .route("/console/orders/{id}", get(orders::page))
        .route(
            "/console/orders/{id}/edit",
            get(orders_edit::edit_page).post(orders_edit::update),
        )
        .route("/console/orders/{id}/status", post(orders_edit::set_status))
        .route(
            "/console/orders/{id}/assign",
            get(assign::suggestions_page).post(assign::assign),
        )
        .route(
            "/console/orders/{id}/flags/{flag}/resolve",
            post(orders::resolve_flag),
        )
        .route("/console/orders/{id}/blobs/{hash}", get(orders::blob))
        .route(
            "/console/orders/{id}/blobs/{hash}/thumbnail",
            get(orders::thumbnail),
        )
        .route("/console/engineers", get(engineers::page))
        .route(
            "/console/engineers/{id}",
            get(engineers::edit_page).post(engineers::update),
        )
        .route(
            "/console/devices/{id}/revoke",
            post(engineers::revoke_device),
        )
        .route("/console/stock", get(stock::stock_page))
        .route("/console/movements", get(stock::movements_page))
        .route("/console/low-stock", get(stock::low_stock_page))
        .route("/console/serials", get(stock::serial_page))
        .route("/console/operations", get(stock_forms::page))
        .route("/console/operations/{kind}", post(stock_forms::submit))
        .route("/console/requests", get(warehouse::requests_page))
        .route("/console/requests/{id}/decide", post(warehouse::decide))
        .route("/console/discrepancies", get(warehouse::discrepancies_page))
        .route(
            "/console/discrepancies/{id}/resolve",
            post(warehouse::resolve_discrepancy),
        )
        .route("/console/catalog", get(warehouse::catalog_page))
        .route("/console/catalog/export.csv", get(warehouse::export))
        .route("/console/catalog/imports", post(warehouse::import))
        .route(
            "/console/catalog/imports/{id}",
            get(warehouse::import_status),
        )
        .route(
            "/console/catalog/imports/{id}/errors",
            get(warehouse::import_errors),
        );
    pages.layer(axum::middleware::from_fn_with_state(
        state,
        session::middleware,
    ))
}
