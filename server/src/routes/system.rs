//! Public operational routes: liveness, readiness, the OpenAPI document and a docs page.

use crate::error::ErrorBody;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use std::sync::OnceLock;
use utoipa::ToSchema;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(openapi_json))
        .routes(routes!(docs_page))
}

/// Health answer.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` for /readyz when the database is not ready.
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "system",
    responses((status = 200, body = Health)))]
async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// The database is reachable and every migration is applied.
#[utoipa::path(get, path = "/readyz", tag = "system",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn readyz(State(state): State<AppState>) -> Response {
    // An unreachable database would otherwise hold the probe for the pool's acquire timeout.
    let ready = tokio::time::timeout(std::time::Duration::from_secs(3), state.db.is_ready())
        .await
        .unwrap_or(false);
    if ready {
        axum::Json(Health { status: "ok" }).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(Health {
                status: "unavailable",
            }),
        )
            .into_response()
    }
}

/// The rendered OpenAPI document and docs page, built once.
struct Docs {
    json: String,
    html: String,
}

fn docs() -> &'static Docs {
    static DOCS: OnceLock<Docs> = OnceLock::new();
    DOCS.get_or_init(|| {
        let doc = super::openapi();
        Docs {
            json: doc.to_pretty_json().unwrap_or_else(|_| "{}".into()),
            html: render_html(&doc),
        }
    })
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "system",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        docs().json.clone(),
    )
        .into_response()
}

/// A human-readable list of the API's operations (static HTML, no scripts).
#[utoipa::path(get, path = "/docs", tag = "system",
    responses((status = 200, description = "HTML page", content_type = "text/html")))]
async fn docs_page() -> Html<String> {
    Html(docs().html.clone())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn render_html(doc: &OpenApi) -> String {
    let mut rows = String::new();
    for (path, item) in &doc.paths.paths {
        let ops = [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
        ];
        for (method, op) in ops {
            let Some(op) = op else { continue };
            let summary = op.summary.as_deref().unwrap_or("");
            let description = op.description.as_deref().unwrap_or("");
            let tag = op
                .tags
                .as_ref()
                .and_then(|t| t.first())
                .map_or("", |t| t.as_str());
            let auth = if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                "bearer"
            } else {
                "public"
            };
            let statuses: Vec<&str> = op.responses.responses.keys().map(String::as_str).collect();
            rows.push_str(&format!(
                "<tr><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td>\
                 <td>{}<br><small>{}</small></td><td>{}</td></tr>\n",
                escape(tag),
                method,
                escape(path),
                auth,
                escape(summary),
                escape(description),
                escape(&statuses.join(" ")),
            ));
        }
    }
    let example = serde_json::to_string(&ErrorBody {
        code: "not_found".into(),
        message: "work order not found".into(),
    })
    .unwrap_or_default();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Lastmile API</title><style>\
         body{{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem}}\
         table{{border-collapse:collapse;width:100%}}\
         td,th{{border-bottom:1px solid #ddd;padding:.4rem;text-align:left;vertical-align:top}}\
         code{{font-size:.95em}}</style></head><body>\
         <h1>Lastmile API {version}</h1>\
         <p>The machine-readable description is at <a href=\"/openapi.json\">/openapi.json</a>. \
         Authenticate with <code>Authorization: Bearer &lt;token&gt;</code>. \
         Errors look like <code>{example}</code>.</p>\
         <table><thead><tr><th>area</th><th>method</th><th>path</th><th>auth</th>\
         <th>what</th><th>answers</th></tr></thead><tbody>\n{rows}</tbody></table></body></html>\n",
        version = escape(&doc.info.version),
        example = escape(&example),
    )
}
