//! The warehouse's work queues: parts requests to approve, partly approve or reject;
//! discrepancies to resolve; the catalog's CSV import (with a progress bar and a per-row error
//! report) and export. Through the inventory API's handlers.

use super::fmt;
use super::layout;
use super::session::Ctx;
use super::stock::{location_select, locations};
use crate::error::{AppError, Json, Query};
use crate::inventory::discrepancies::{DiscrepancyFilter, Resolve};
use crate::inventory::requests::{Decision, RequestFilter};
use crate::routes::inventory::workflow as api;
use crate::routes::inventory::{self as inv, ErrorsQuery, ExportQuery, ImportQuery, Stockkeeper};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    status: Option<String>,
    done: Option<String>,
}

/// `GET /console/requests`
pub async fn requests_page(
    State(state): State<AppState>,
    ctx: Ctx,
    who: Stockkeeper,
    axum::extract::Query(q): axum::extract::Query<ListQuery>,
) -> Result<Response, AppError> {
    let status = q.status.clone().unwrap_or_else(|| "pending".into());
    let Json(page) = api::list_requests(
        State(state.clone()),
        inv::Planner(who.0.clone()),
        Query(RequestFilter {
            status: Some(status.clone()),
            limit: Some(200),
            ..RequestFilter::default()
        }),
    )
    .await?;
    let locs = locations(&state, &who).await?;
    let warehouses: Vec<_> = locs
        .into_iter()
        .filter(|l| l.kind.as_str() == "warehouse")
        .collect();
    let names = super::user_names(&state, ctx.caller().org).await;
    let body = html! {
        h1 { (ctx.t("request.title")) }
        (layout::flash(&ctx, q.done.as_deref()))
        nav.tabs aria-label=(ctx.t("request.filter")) {
            @for s in ["pending", "decided", "all"] {
                a href={"/console/requests?status=" (s)} aria-current=[(s == status).then_some("page")] { (ctx.t(&format!("request.{s}"))) }
            }
        }
        @if page.items.is_empty() { p { (ctx.t("request.none")) } }
        @for r in &page.items {
            article.request data-request=(r.id) {
                h2 {
                    (r.sku) " × " (fmt::number(r.qty)) " · "
                    // Order pages are the dispatchers'; warehouse staff see the number.
                    (r.work_order_number.clone().unwrap_or_default())
                }
                p {
                    (names.get(&r.requested_by).cloned().unwrap_or_default()) " · " (layout::when(&ctx, r.requested_at_ms))
                    @if !r.note.is_empty() { " · " (r.note) }
                }
                @if r.status == "pending" {
                    form.inline-form method="post" action={"/console/requests/" (r.id) "/decide"} {
                        (layout::csrf(&ctx))
                        label for={"qty-" (r.id)} { (ctx.t("request.approved_qty")) }
                        input id={"qty-" (r.id)} name="approved_qty" type="number" min="0" max=(r.qty) value=(r.qty) required;
                        (location_select(&ctx, "from_location", &format!("from-{}", r.id), ctx.t("movement.from"), &warehouses, None, false))
                        label for={"note-" (r.id)} { (ctx.t("order.note")) }
                        input id={"note-" (r.id)} name="note" type="text";
                        label for={"serials-" (r.id)} { (ctx.t("ops.serials")) }
                        input id={"serials-" (r.id)} name="serials" type="text";
                        button type="submit" name="action" value="approve" { (ctx.t("request.approve")) }
                        button.danger type="submit" name="action" value="reject" { (ctx.t("request.reject")) }
                    }
                } @else {
                    p { span.badge { (ctx.t(&format!("request.status_{}", r.status))) } " "
                        (fmt::number(r.approved_qty.unwrap_or(0))) " / " (fmt::number(r.qty))
                        " " (r.decision_note.clone().unwrap_or_default()) }
                }
            }
        }
    };
    Ok(layout::page(&ctx, ctx.t("request.title"), "requests", body).into_response())
}

#[derive(Deserialize)]
pub struct DecideForm {
    approved_qty: i64,
    #[serde(default)]
    from_location: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    serials: String,
    #[serde(default)]
    action: String,
}

/// `POST /console/requests/{id}/decide`: approve (the quantity given; less than asked is a
/// partial approval) or reject.
pub async fn decide(
    State(state): State<AppState>,
    _ctx: Ctx,
    who: Stockkeeper,
    Path(id): Path<String>,
    axum::Form(f): axum::Form<DecideForm>,
) -> Result<Redirect, AppError> {
    let approved_qty = if f.action == "reject" {
        0
    } else {
        f.approved_qty
    };
    api::decide_request(
        State(state),
        who,
        Path(id),
        Json(Decision {
            approved_qty,
            from_location: Some(f.from_location).filter(|s| !s.is_empty()),
            note: f.note,
            serials: f
                .serials
                .split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        }),
    )
    .await?;
    Ok(Redirect::to("/console/requests?done=decided"))
}

/// `GET /console/discrepancies`
pub async fn discrepancies_page(
    State(state): State<AppState>,
    ctx: Ctx,
    who: Stockkeeper,
    axum::extract::Query(q): axum::extract::Query<ListQuery>,
) -> Result<Response, AppError> {
    let status = q.status.clone().unwrap_or_else(|| "open".into());
    let Json(page) = api::list_discrepancies(
        State(state.clone()),
        who,
        Query(DiscrepancyFilter {
            status: Some(status.clone()),
            limit: Some(200),
            ..DiscrepancyFilter::default()
        }),
    )
    .await?;
    let body = html! {
        h1 { (ctx.t("discrepancy.title")) }
        (layout::flash(&ctx, q.done.as_deref()))
        nav.tabs aria-label=(ctx.t("request.filter")) {
            @for s in ["open", "resolved", "all"] {
                a href={"/console/discrepancies?status=" (s)} aria-current=[(s == status).then_some("page")] { (ctx.t(&format!("discrepancy.{s}"))) }
            }
        }
        @if page.items.is_empty() { p { (ctx.t("discrepancy.none")) } }
        @for d in &page.items {
            article.request {
                h2 { span.badge { (d.kind) } " " (d.sku) " · " (d.work_order_number.clone().unwrap_or_default()) }
                p { (layout::when(&ctx, d.opened_at_ms)) " · " (d.detail) }
                @if d.status == "open" {
                    form.inline-form method="post" action={"/console/discrepancies/" (d.id) "/resolve"} {
                        (layout::csrf(&ctx))
                        label for={"note-" (d.id)} { (ctx.t("discrepancy.note")) }
                        input id={"note-" (d.id)} name="note" type="text" required;
                        @if d.kind == "unknown_sku" {
                            label for={"sku-" (d.id)} { (ctx.t("discrepancy.post_as")) }
                            input id={"sku-" (d.id)} name="post_as_sku" type="text";
                        }
                        button type="submit" { (ctx.t("discrepancy.resolve")) }
                    }
                } @else {
                    p.muted { (ctx.t("discrepancy.resolved")) ": " (d.resolution.clone().unwrap_or_default()) }
                }
            }
        }
    };
    Ok(layout::page(&ctx, ctx.t("discrepancy.title"), "discrepancies", body).into_response())
}

#[derive(Deserialize)]
pub struct ResolveForm {
    note: String,
    #[serde(default)]
    post_as_sku: String,
}

/// `POST /console/discrepancies/{id}/resolve`
pub async fn resolve_discrepancy(
    State(state): State<AppState>,
    _ctx: Ctx,
    who: Stockkeeper,
    Path(id): Path<String>,
    axum::Form(f): axum::Form<ResolveForm>,
) -> Result<Redirect, AppError> {
    api::resolve_discrepancy(
        State(state),
        who,
        Path(id),
        Json(Resolve {
            note: f.note,
            post_as_sku: Some(f.post_as_sku).filter(|s| !s.is_empty()),
        }),
    )
    .await?;
    Ok(Redirect::to("/console/discrepancies?done=resolved"))
}

/// `GET /console/catalog`: import (the script posts the file and polls the job) and export.
pub async fn catalog_page(
    State(state): State<AppState>,
    ctx: Ctx,
    who: Stockkeeper,
) -> Result<Response, AppError> {
    let locs = locations(&state, &who).await?;
    let warehouses: Vec<_> = locs
        .into_iter()
        .filter(|l| l.kind.as_str() == "warehouse")
        .collect();
    let body = html! {
        h1 { (ctx.t("catalog.title")) }
        section {
            h2 { (ctx.t("catalog.export")) }
            p { a.button href="/console/catalog/export.csv" download="catalog.csv" { (ctx.t("catalog.download")) } }
        }
        section {
            h2 { (ctx.t("catalog.import")) }
            form #import.stacked data-label-done=(ctx.t("catalog.finished")) data-label-errors=(ctx.t("catalog.errors")) {
                label for="file" { (ctx.t("catalog.file")) }
                input #file type="file" name="file" accept=".csv,text/csv" required;
                label for="mode" { (ctx.t("catalog.mode")) }
                select #mode name="mode" {
                    option value="all_or_nothing" { (ctx.t("catalog.all_or_nothing")) }
                    option value="skip_bad_rows" { (ctx.t("catalog.skip_bad_rows")) }
                }
                (location_select(&ctx, "location", "import-location", ctx.t("catalog.levels_at"), &warehouses, None, false))
                button type="submit" { (ctx.t("catalog.start")) }
            }
            label for="progress" { (ctx.t("catalog.progress")) }
            progress #progress max="100" value="0" {}
            p #import-status role="status" aria-live="polite" {}
            p #import-errors {}
        }
    };
    Ok(layout::page(&ctx, ctx.t("catalog.title"), "catalog", body).into_response())
}

/// `GET /console/catalog/export.csv`
pub async fn export(
    State(state): State<AppState>,
    _ctx: Ctx,
    who: Stockkeeper,
) -> Result<Response, AppError> {
    Ok(
        inv::export_catalog(State(state), who, Query(ExportQuery::default()))
            .await?
            .into_response(),
    )
}

/// `POST /console/catalog/imports?mode=&location=` (the CSV as the body, CSRF in the header).
pub async fn import(
    State(state): State<AppState>,
    _ctx: Ctx,
    who: Stockkeeper,
    q: Query<ImportQuery>,
    body: Bytes,
) -> Result<Response, AppError> {
    Ok(inv::import_catalog(State(state), who, q, body)
        .await?
        .into_response())
}

/// `GET /console/catalog/imports/{id}`: the job as JSON, for the progress bar.
pub async fn import_status(
    State(state): State<AppState>,
    _ctx: Ctx,
    who: Stockkeeper,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    Ok(inv::get_import(State(state), who, Path(id))
        .await?
        .into_response())
}

/// `GET /console/catalog/imports/{id}/errors`: every bad row, by line.
pub async fn import_errors(
    State(state): State<AppState>,
    ctx: Ctx,
    who: Stockkeeper,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let Json(rows) = inv::import_errors(
        State(state),
        who,
        Path(id),
        Query(ErrorsQuery {
            limit: Some(10_000),
            offset: None,
        }),
    )
    .await?;
    let body = html! {
        h1 { (ctx.t("catalog.error_report")) }
        p { (fmt::number(rows.len() as i64)) " " (ctx.t("catalog.bad_rows")) }
        table.data {
            thead { tr { th.num { (ctx.t("catalog.line")) } th { (ctx.t("catalog.reason")) } } }
            tbody { @for r in &rows { tr { td.num { (r.line) } td { (r.reason) } } } }
        }
    };
    Ok(layout::page(&ctx, ctx.t("catalog.error_report"), "catalog", body).into_response())
}
