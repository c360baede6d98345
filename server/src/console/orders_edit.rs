//! Creating and editing orders, and moving them through the status machine (cancel, reopen,
//! close ...), through the API's handlers.

use super::fmt;
use super::layout;
use super::session::Ctx;
use crate::auth::Office;
use crate::error::{AppError, Json, Query};
use crate::routes::Page;
use crate::routes::dispatch::{
    self, AssetIn, CreateWorkOrder, PriorityRequest, ScheduleRequest, SiteIn, StatusRequest,
    UpdateWorkOrder,
};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

fn priority_select(ctx: &Ctx, current: &str) -> Markup {
    html! {
        label for="priority" { (ctx.t("board.priority")) }
        select #priority name="priority" {
            @for p in ["low", "normal", "high", "urgent"] {
                option value=(p) selected[p == current] { (ctx.t(&format!("priority.{p}"))) }
            }
        }
    }
}

/// `GET /console/orders/new`
pub async fn new_page(
    State(state): State<AppState>,
    ctx: Ctx,
    office: Office,
) -> Result<Response, AppError> {
    let Json(customers) = crate::routes::customers::list_customers(
        State(state),
        office,
        Query(Page {
            limit: Some(1000),
            offset: None,
        }),
    )
    .await?;
    let body = html! {
        h1 { (ctx.t("order.new_title")) }
        form.stacked method="post" action="/console/orders/new" {
            (layout::csrf(&ctx))
            label for="site" { (ctx.t("order.customer_site")) }
            select #site name="site" required {
                @for c in &customers { @for s in &c.sites {
                    option value={(c.id) "/" (s.id)} { (c.name) " — " (s.address) }
                } }
            }
            label for="problem" { (ctx.t("order.problem")) }
            textarea #problem name="problem" required rows="3" {}
            label for="asset_model" { (ctx.t("order.asset")) }
            input #asset_model name="asset_model" type="text";
            label for="asset_serial" { (ctx.t("order.serial")) }
            input #asset_serial name="asset_serial" type="text";
            (priority_select(&ctx, "normal"))
            label for="sla_due" { (ctx.t("order.sla")) }
            input #sla_due name="sla_due" type="datetime-local";
            label for="window_start" { (ctx.t("order.window_start")) }
            input #window_start name="window_start" type="datetime-local";
            label for="window_end" { (ctx.t("order.window_end")) }
            input #window_end name="window_end" type="datetime-local";
            button type="submit" { (ctx.t("order.create")) }
        }
    };
    Ok(layout::page(&ctx, ctx.t("order.new_title"), "new", body).into_response())
}

#[derive(Deserialize)]
pub struct NewForm {
    site: String,
    problem: String,
    #[serde(default)]
    asset_model: String,
    #[serde(default)]
    asset_serial: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    sla_due: String,
    #[serde(default)]
    window_start: String,
    #[serde(default)]
    window_end: String,
}

/// `POST /console/orders/new`
pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    office: Office,
    axum::Form(f): axum::Form<NewForm>,
) -> Result<Redirect, AppError> {
    let (customer_id, site_id) = f
        .site
        .split_once('/')
        .ok_or_else(|| AppError::Invalid(ctx.t("order.pick_site").into()))?;
    let site = crate::accounts::customer_site(&state.db, ctx.caller().org, customer_id, site_id)
        .await?
        .ok_or_else(|| AppError::Invalid(ctx.t("order.pick_site").into()))?;
    let (_, Json(order)) = dispatch::create_work_order(
        State(state.clone()),
        office.clone(),
        Json(CreateWorkOrder {
            customer_id: customer_id.to_owned(),
            site: SiteIn {
                address: site.address,
                lat: site.lat,
                lon: site.lon,
            },
            asset: AssetIn {
                id: String::new(),
                model: f.asset_model,
                serial: f.asset_serial,
            },
            problem: f.problem,
            priority: Some(f.priority).filter(|p| !p.is_empty()),
            sla_due_ms: fmt::parse_local(&f.sla_due, &ctx.tz),
        }),
    )
    .await?;
    if let (Some(start_ms), Some(end_ms)) = (
        fmt::parse_local(&f.window_start, &ctx.tz),
        fmt::parse_local(&f.window_end, &ctx.tz),
    ) {
        dispatch::schedule(
            State(state),
            office,
            Path(order.id.clone()),
            Json(ScheduleRequest { start_ms, end_ms }),
        )
        .await?;
    }
    Ok(Redirect::to(&format!(
        "/console/orders/{}?done=created",
        order.id
    )))
}

/// `GET /console/orders/{id}/edit`
pub async fn edit_page(
    State(state): State<AppState>,
    ctx: Ctx,
    office: Office,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let Json(o) = dispatch::get_work_order(State(state), office.0, Path(id)).await?;
    let body = html! {
        h1 { (ctx.t("order.edit")) " " (o.number) }
        form.stacked method="post" action={"/console/orders/" (o.id) "/edit"} {
            (layout::csrf(&ctx))
            label for="problem" { (ctx.t("order.problem")) }
            textarea #problem name="problem" required rows="3" { (o.problem) }
            label for="address" { (ctx.t("order.site")) }
            input #address name="address" type="text" value=(o.site.address) required;
            label for="lat" { (ctx.t("order.lat")) }
            input #lat name="lat" type="number" step="any" value=(o.site.lat) required;
            label for="lon" { (ctx.t("order.lon")) }
            input #lon name="lon" type="number" step="any" value=(o.site.lon) required;
            label for="asset_model" { (ctx.t("order.asset")) }
            input #asset_model name="asset_model" type="text" value=(o.asset.model);
            label for="asset_serial" { (ctx.t("order.serial")) }
            input #asset_serial name="asset_serial" type="text" value=(o.asset.serial);
            (priority_select(&ctx, &o.priority))
            label for="sla_due" { (ctx.t("order.sla")) }
            input #sla_due name="sla_due" type="datetime-local" value=(fmt::local_input(o.sla_due_ms, &ctx.tz));
            label for="window_start" { (ctx.t("order.window_start")) }
            input #window_start name="window_start" type="datetime-local" value=(fmt::local_input(o.window_start_ms, &ctx.tz));
            label for="window_end" { (ctx.t("order.window_end")) }
            input #window_end name="window_end" type="datetime-local" value=(fmt::local_input(o.window_end_ms, &ctx.tz));
            button type="submit" { (ctx.t("order.save")) }
        }
    };
    Ok(layout::page(&ctx, ctx.t("order.edit"), "board", body).into_response())
}

#[derive(Deserialize)]
pub struct EditForm {
    problem: String,
    address: String,
    lat: f64,
    lon: f64,
    #[serde(default)]
    asset_model: String,
    #[serde(default)]
    asset_serial: String,
    priority: String,
    #[serde(default)]
    sla_due: String,
    #[serde(default)]
    window_start: String,
    #[serde(default)]
    window_end: String,
}

/// `POST /console/orders/{id}/edit`: header, priority and window, each through its API call.
pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    office: Office,
    Path(id): Path<String>,
    axum::Form(f): axum::Form<EditForm>,
) -> Result<Redirect, AppError> {
    let Json(before) =
        dispatch::get_work_order(State(state.clone()), office.0.clone(), Path(id.clone())).await?;
    dispatch::update_work_order(
        State(state.clone()),
        office.clone(),
        Path(id.clone()),
        Json(UpdateWorkOrder {
            site: Some(SiteIn {
                address: f.address,
                lat: f.lat,
                lon: f.lon,
            }),
            asset: Some(AssetIn {
                id: before.asset.id,
                model: f.asset_model,
                serial: f.asset_serial,
            }),
            problem: Some(f.problem),
            sla_due_ms: Some(fmt::parse_local(&f.sla_due, &ctx.tz)),
        }),
    )
    .await?;
    if f.priority != before.priority {
        dispatch::set_priority(
            State(state.clone()),
            office.clone(),
            Path(id.clone()),
            Json(PriorityRequest {
                priority: f.priority,
            }),
        )
        .await?;
    }
    let window = (
        fmt::parse_local(&f.window_start, &ctx.tz),
        fmt::parse_local(&f.window_end, &ctx.tz),
    );
    if let (Some(start_ms), Some(end_ms)) = window
        && (Some(start_ms), Some(end_ms)) != (before.window_start_ms, before.window_end_ms)
    {
        dispatch::schedule(
            State(state),
            office,
            Path(id.clone()),
            Json(ScheduleRequest { start_ms, end_ms }),
        )
        .await?;
    }
    Ok(Redirect::to(&format!("/console/orders/{id}?done=saved")))
}

#[derive(Deserialize)]
pub struct StatusForm {
    status: String,
}

/// `POST /console/orders/{id}/status`: cancel, reopen, close ... as the status machine allows.
pub async fn set_status(
    State(state): State<AppState>,
    _ctx: Ctx,
    office: Office,
    Path(id): Path<String>,
    axum::Form(f): axum::Form<StatusForm>,
) -> Result<Redirect, AppError> {
    dispatch::set_status(
        State(state),
        office,
        Path(id.clone()),
        Json(StatusRequest { status: f.status }),
    )
    .await?;
    Ok(Redirect::to(&format!("/console/orders/{id}?done=status")))
}
