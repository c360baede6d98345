//! Warehouse reading pages: stock by location with search, the ledger's movements with filters,
//! low stock, and a serial number's history. All through the inventory API's handlers.

use super::fmt::{self, Date};
use super::layout;
use super::session::Ctx;
use crate::error::{AppError, Json, Query};
use crate::inventory::locations::Location;
use crate::inventory::reports::{MovementFilter, MovementRow, StockFilter};
use crate::routes::inventory::stock as api;
use crate::routes::inventory::{LocationQuery, Stockkeeper};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

/// Every location (warehouses, quarantine, vans), for the filters.
pub async fn locations(state: &AppState, who: &Stockkeeper) -> Result<Vec<Location>, AppError> {
    let Json(out) = crate::routes::inventory::list_locations(
        State(state.clone()),
        crate::routes::inventory::StockReader(who.0.clone()),
        Query(LocationQuery::default()),
    )
    .await?;
    Ok(out)
}

pub fn location_select(
    ctx: &Ctx,
    name: &str,
    id: &str,
    label: &str,
    locs: &[Location],
    current: Option<&str>,
    any: bool,
) -> Markup {
    html! {
        label for=(id) { (label) }
        select #(id) name=(name) {
            @if any { option value="" { (ctx.t("board.any")) } }
            @for l in locs {
                option value=(l.code) selected[current == Some(l.code.as_str())] {
                    (l.code) " · " (l.name)
                }
            }
        }
    }
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

#[derive(Deserialize, Default)]
pub struct StockQuery {
    q: Option<String>,
    location: Option<String>,
    kind: Option<String>,
    offset: Option<i64>,
}

/// `GET /console/stock`
pub async fn stock_page(
    State(state): State<AppState>,
    ctx: Ctx,
    who: Stockkeeper,
    axum::extract::Query(q): axum::extract::Query<StockQuery>,
) -> Result<Response, AppError> {
    let locs = locations(&state, &who).await?;
    let offset = q.offset.unwrap_or(0).max(0);
    let Json(page) = api::list_stock(
        State(state.clone()),
        crate::routes::inventory::StockReader(who.0.clone()),
        Query(StockFilter {
            location: nonempty(q.location.clone()),
            kind: nonempty(q.kind.clone()),
            q: nonempty(q.q.clone()),
            limit: Some(200),
            offset: Some(offset),
            ..StockFilter::default()
        }),
    )
    .await?;
    let body = html! {
        h1 { (ctx.t("stock.title")) }
        form.filters method="get" action="/console/stock" {
            label for="q" { (ctx.t("stock.search")) }
            input #q type="search" name="q" value=[q.q.as_deref()];
            (location_select(&ctx, "location", "location", ctx.t("stock.location"), &locs, q.location.as_deref(), true))
            label for="kind" { (ctx.t("stock.kind")) }
            select #kind name="kind" {
                option value="" { (ctx.t("board.any")) }
                @for k in ["warehouse", "van", "quarantine"] {
                    option value=(k) selected[q.kind.as_deref() == Some(k)] { (ctx.t(&format!("location.{k}"))) }
                }
            }
            button type="submit" { (ctx.t("board.filter")) }
        }
        p.muted { (ctx.t("stock.lines")) " " (fmt::number(page.total)) }
        table.data {
            thead { tr {
                th { (ctx.t("stock.location")) } th { (ctx.t("stock.sku")) } th { (ctx.t("stock.part")) }
                th.num { (ctx.t("stock.qty")) } th.num { (ctx.t("stock.reserved")) } th.num { (ctx.t("stock.available")) }
                th.num { (ctx.t("stock.defective")) } th.num { (ctx.t("stock.reorder_point")) } th.num { (ctx.t("stock.value")) }
                th { (ctx.t("stock.serials")) }
            } }
            tbody {
                @for s in &page.items {
                    tr.low[s.reorder_point.is_some_and(|p| s.available < p)] data-location=(s.location_code) data-sku=(s.sku) {
                        td { (s.location_code) } td { (s.sku) } td { (s.name) }
                        td.num.qty { (fmt::qty(s.qty, &s.unit)) } td.num { (fmt::qty(s.reserved, &s.unit)) }
                        td.num { (fmt::qty(s.available, &s.unit)) } td.num { (fmt::qty(s.defective, &s.unit)) }
                        td.num { (s.reorder_point.map(|p| fmt::qty(p, &s.unit)).unwrap_or_default()) }
                        td.num { (fmt::money(s.value_minor)) }
                        td.serials {
                            @for (i, sn) in s.serials.iter().take(5).enumerate() {
                                @if i > 0 { ", " }
                                a href={"/console/serials?serial=" (super::session::urlencode(sn))} { (sn) }
                            }
                            @if s.serials.len() > 5 { " …" }
                        }
                    }
                }
            }
        }
        (pager(&ctx, "/console/stock", &format!(
            "q={}&location={}&kind={}",
            super::session::urlencode(q.q.as_deref().unwrap_or_default()),
            super::session::urlencode(q.location.as_deref().unwrap_or_default()),
            super::session::urlencode(q.kind.as_deref().unwrap_or_default()),
        ), offset, 200, page.total))
    };
    Ok(layout::page(&ctx, ctx.t("stock.title"), "stock", body).into_response())
}

fn pager(ctx: &Ctx, path: &str, query: &str, offset: i64, size: i64, total: i64) -> Markup {
    html! {
        nav.pager aria-label=(ctx.t("stock.pages")) {
            @if offset > 0 {
                a href={(path) "?" (query) "&offset=" ((offset - size).max(0))} { "← " (ctx.t("board.previous")) }
            }
            @if offset + size < total {
                a href={(path) "?" (query) "&offset=" (offset + size)} { (ctx.t("board.next")) " →" }
            }
        }
    }
}

#[derive(Deserialize, Default)]
pub struct MovementQuery {
    kind: Option<String>,
    location: Option<String>,
    sku: Option<String>,
    serial: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

pub fn movements_table(ctx: &Ctx, rows: &[MovementRow]) -> Markup {
    html! {
        table.data {
            thead { tr {
                th { (ctx.t("movement.when")) } th { (ctx.t("movement.kind")) } th { (ctx.t("stock.sku")) }
                th.num { (ctx.t("stock.qty")) } th { (ctx.t("movement.from")) } th { (ctx.t("movement.to")) }
                th { (ctx.t("order.serial")) } th { (ctx.t("movement.order")) } th { (ctx.t("order.note")) }
            } }
            tbody {
                @for m in rows {
                    tr {
                        td { (layout::when(ctx, m.at_ms)) }
                        td { (ctx.t(&format!("kind.{}", m.kind.as_str()))) }
                        td { (m.sku) } td.num { (fmt::number(m.qty)) }
                        td { (m.from_location_code.clone().unwrap_or_default()) " " (m.from_condition.clone().unwrap_or_default()) }
                        td { (m.to_location_code.clone().unwrap_or_default()) " " (m.to_condition.clone().unwrap_or_default()) }
                        td { (m.serial.clone().unwrap_or_default()) }
                        td { (m.work_order_number.clone().unwrap_or_default()) }
                        td { (m.supplier.clone().unwrap_or_default()) " " (m.reason.clone().unwrap_or_default()) " " (m.note) }
                    }
                }
            }
        }
    }
}

/// `GET /console/movements`
pub async fn movements_page(
    State(state): State<AppState>,
    ctx: Ctx,
    who: Stockkeeper,
    axum::extract::Query(q): axum::extract::Query<MovementQuery>,
) -> Result<Response, AppError> {
    let locs = locations(&state, &who).await?;
    let day = |s: &Option<String>| s.as_deref().and_then(Date::parse);
    let Json(page) = api::list_movements(
        State(state.clone()),
        crate::routes::inventory::StockReader(who.0.clone()),
        Query(MovementFilter {
            kind: nonempty(q.kind.clone()),
            location: nonempty(q.location.clone()),
            sku: nonempty(q.sku.clone()),
            serial: nonempty(q.serial.clone()),
            from_ms: day(&q.from).map(|d| d.start_ms(&ctx.tz)),
            to_ms: day(&q.to).map(|d| d.add_days(1).start_ms(&ctx.tz)),
            limit: Some(300),
            ..MovementFilter::default()
        }),
    )
    .await?;
    let kinds = [
        "receive",
        "issue",
        "transfer",
        "consume",
        "consume_reversal",
        "removal",
        "return_good",
        "return_defective",
        "return_supplier",
        "adjust",
    ];
    let body = html! {
        h1 { (ctx.t("movement.title")) }
        form.filters method="get" action="/console/movements" {
            label for="mkind" { (ctx.t("movement.kind")) }
            select #mkind name="kind" {
                option value="" { (ctx.t("board.any")) }
                @for k in kinds { option value=(k) selected[q.kind.as_deref() == Some(k)] { (ctx.t(&format!("kind.{k}"))) } }
            }
            (location_select(&ctx, "location", "location", ctx.t("stock.location"), &locs, q.location.as_deref(), true))
            label for="sku" { (ctx.t("stock.sku")) }
            input #sku type="text" name="sku" value=[q.sku.as_deref()];
            label for="serial" { (ctx.t("order.serial")) }
            input #serial type="text" name="serial" value=[q.serial.as_deref()];
            label for="from" { (ctx.t("movement.from_date")) }
            input #from type="date" name="from" value=[q.from.as_deref()];
            label for="to" { (ctx.t("movement.to_date")) }
            input #to type="date" name="to" value=[q.to.as_deref()];
            button type="submit" { (ctx.t("board.filter")) }
        }
        p.muted { (ctx.t("movement.count")) " " (fmt::number(page.total)) }
        (movements_table(&ctx, &page.items))
    };
    Ok(layout::page(&ctx, ctx.t("movement.title"), "movements", body).into_response())
}

/// `GET /console/low-stock`
pub async fn low_stock_page(
    State(state): State<AppState>,
    ctx: Ctx,
    who: Stockkeeper,
) -> Result<Response, AppError> {
    let Json(rows) = api::low_stock(
        State(state),
        crate::routes::inventory::Planner(who.0),
        Query(api::LowStockQuery { location: None }),
    )
    .await?;
    let body = html! {
        h1 { (ctx.t("low.title")) }
        @if rows.is_empty() { p { (ctx.t("low.none")) } }
        table.data {
            thead { tr {
                th { (ctx.t("stock.location")) } th { (ctx.t("stock.sku")) } th { (ctx.t("stock.part")) }
                th.num { (ctx.t("stock.available")) } th.num { (ctx.t("stock.reorder_point")) } th.num { (ctx.t("low.suggested")) }
            } }
            tbody { @for r in &rows { tr {
                td { (r.location_code) } td { (r.sku) } td { (r.name) }
                td.num { (fmt::qty(r.available, &r.unit)) } td.num { (fmt::qty(r.reorder_point, &r.unit)) }
                td.num { (fmt::qty(r.suggested_qty, &r.unit)) }
            } } }
        }
    };
    Ok(layout::page(&ctx, ctx.t("low.title"), "low", body).into_response())
}

#[derive(Deserialize, Default)]
pub struct SerialQuery {
    serial: Option<String>,
}

/// `GET /console/serials?serial=`
pub async fn serial_page(
    State(state): State<AppState>,
    ctx: Ctx,
    who: Stockkeeper,
    axum::extract::Query(q): axum::extract::Query<SerialQuery>,
) -> Result<Response, AppError> {
    let serial = nonempty(q.serial);
    let history = match &serial {
        None => None,
        Some(s) => match api::serial_history(
            State(state),
            crate::routes::inventory::Planner(who.0),
            Path(s.clone()),
        )
        .await
        {
            Ok(Json(h)) => Some(h),
            Err(AppError::NotFound(_)) => None,
            Err(e) => return Err(e),
        },
    };
    let body = html! {
        h1 { (ctx.t("serial.title")) }
        form.filters method="get" action="/console/serials" {
            label for="serial" { (ctx.t("order.serial")) }
            input #serial type="search" name="serial" value=[serial.as_deref()] required;
            button type="submit" { (ctx.t("serial.look_up")) }
        }
        @match (&serial, &history) {
            (Some(_), None) => { p { (ctx.t("serial.unknown")) } }
            (_, Some(h)) => {
                h2 { (h.serial) }
                ul { @for n in &h.now { li {
                    (n.sku) " · " (n.name) " · " strong { (n.state) } " "
                    (n.location_code.clone().unwrap_or_default())
                } } }
                (movements_table(&ctx, &h.history))
            }
            _ => {}
        }
    };
    Ok(layout::page(&ctx, ctx.t("serial.title"), "serials", body).into_response())
}
