//! The dispatch board: unassigned orders, and a lane per engineer over a day (a timeline) or a
//! week (a column per day), with status colours, SLA risk and filters. Orders are assigned by
//! dragging a card onto a lane, or by keyboard through the card's "Assign" page of ranked
//! suggestions (`assign.rs`). The page's script re-fetches [`fragment`] when `/console/events` says the
//! organisation changed.
//!
//! Every number on the board comes from the API's own handlers (`list_work_orders` over the
//! projection, `list_engineers`, `suggestions`, `assign`), so a dispatcher limited to a
//! territory or team sees and changes exactly what the API lets them.

use super::fmt::{self, Date};
use super::layout::{self, Risk};
use super::session::Ctx;
use crate::accounts::Engineer;
use crate::auth::Office;
use crate::error::{AppError, Json, Query};
use crate::routes::dispatch::{self, ListFilter, WorkOrderRow};
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use jiff::tz::TimeZone;
use maud::{Markup, html};
use serde::Deserialize;
use std::collections::HashMap;
use std::time::Instant;

/// The board's query string: what the filters form submits.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct BoardQuery {
    /// `day` (default) or `week`.
    pub view: Option<String>,
    /// `YYYY-MM-DD`, local; default today.
    pub date: Option<String>,
    /// A territory id.
    pub area: Option<String>,
    pub skill: Option<String>,
    pub priority: Option<String>,
    /// Part of a customer's name.
    pub customer: Option<String>,
    pub done: Option<String>,
}

impl BoardQuery {
    fn week(&self) -> bool {
        self.view.as_deref() == Some("week")
    }

    fn nonempty(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }

    fn query_string(&self, date: Date) -> String {
        let mut q = format!(
            "view={}&date={}",
            if self.week() { "week" } else { "day" },
            date.iso()
        );
        for (k, v) in [
            ("area", &self.area),
            ("skill", &self.skill),
            ("priority", &self.priority),
            ("customer", &self.customer),
        ] {
            if let Some(v) = Self::nonempty(v) {
                q.push_str(&format!("&{k}={}", super::session::urlencode(v)));
            }
        }
        q
    }
}

/// Everything the board shows, read through the API handlers.
pub struct BoardData {
    pub first: Date,
    pub days: i64,
    pub engineers: Vec<Engineer>,
    pub unassigned: Vec<WorkOrderRow>,
    pub lanes: HashMap<String, Vec<WorkOrderRow>>,
    /// Open orders assigned to an engineer with no schedule window yet, per engineer.
    pub unscheduled: HashMap<String, Vec<WorkOrderRow>>,
    pub territories: Vec<(String, String)>,
    pub now: i64,
}

async fn list(
    state: &AppState,
    office: &Office,
    f: ListFilter,
) -> Result<Vec<WorkOrderRow>, AppError> {
    let Json(out) =
        dispatch::list_work_orders(State(state.clone()), office.clone(), Query(f)).await?;
    Ok(out.items)
}

pub async fn load(
    state: &AppState,
    ctx: &Ctx,
    office: &Office,
    q: &BoardQuery,
) -> Result<BoardData, AppError> {
    let now = crate::now_ms();
    let today = Date::of(now, &ctx.tz);
    let date = q.date.as_deref().and_then(Date::parse).unwrap_or(today);
    let (first, days) = if q.week() {
        (date.monday(), 7)
    } else {
        (date, 1)
    };
    let from = first.start_ms(&ctx.tz);
    let to = first.add_days(days).start_ms(&ctx.tz);
    let priority = BoardQuery::nonempty(&q.priority).map(str::to_owned);
    let Json(mut engineers) =
        crate::routes::engineers::list_engineers(State(state.clone()), office.clone()).await?;
    if let Some(skill) = BoardQuery::nonempty(&q.skill) {
        engineers.retain(|e| e.profile.skills.iter().any(|s| s == skill));
    }
    let mut unassigned = list(
        state,
        office,
        ListFilter {
            status: Some("new".into()),
            assignee: Some("none".into()),
            priority: priority.clone(),
            limit: Some(1000),
            ..ListFilter::default()
        },
    )
    .await?;
    let open_assigned = list(
        state,
        office,
        ListFilter {
            status: Some("assigned,en_route,on_site,needs_parts".into()),
            priority: priority.clone(),
            limit: Some(1000),
            ..ListFilter::default()
        },
    )
    .await?;
    let mut scheduled = list(
        state,
        office,
        ListFilter {
            priority,
            from_ms: Some(from),
            to_ms: Some(to),
            limit: Some(1000),
            ..ListFilter::default()
        },
    )
    .await?;
    let (territories, areas) = {
        let mut conn = state.db.pool().acquire().await?;
        let list = crate::territories::list(&mut conn, ctx.caller().org).await?;
        let areas = match BoardQuery::nonempty(&q.area) {
            Some(_) => crate::territories::areas(&mut conn, ctx.caller().org).await?,
            None => Vec::new(),
        };
        (
            list.into_iter().map(|t| (t.id, t.name)).collect::<Vec<_>>(),
            areas,
        )
    };
    let keep = |r: &WorkOrderRow| {
        let area_ok = match BoardQuery::nonempty(&q.area) {
            None => true,
            Some(a) => {
                crate::territories::containing(&areas, r.site_lat, r.site_lon).as_deref() == Some(a)
            }
        };
        let customer_ok = match BoardQuery::nonempty(&q.customer) {
            None => true,
            Some(c) => r.customer_name.to_lowercase().contains(&c.to_lowercase()),
        };
        area_ok && customer_ok
    };
    unassigned.retain(keep);
    scheduled.retain(|r| r.assignee_id.is_some() && keep(r));
    let mut lanes: HashMap<String, Vec<WorkOrderRow>> = HashMap::new();
    for r in scheduled {
        lanes
            .entry(r.assignee_id.clone().unwrap_or_default())
            .or_default()
            .push(r);
    }
    for l in lanes.values_mut() {
        l.sort_by_key(|r| r.window_start_ms);
    }
    let mut unscheduled: HashMap<String, Vec<WorkOrderRow>> = HashMap::new();
    for r in open_assigned {
        if r.window_start_ms.is_none() && keep(&r) {
            unscheduled
                .entry(r.assignee_id.clone().unwrap_or_default())
                .or_default()
                .push(r);
        }
    }
    Ok(BoardData {
        first,
        days,
        engineers,
        unassigned,
        lanes,
        unscheduled,
        territories,
        now,
    })
}

/// The timeline of the day view: 06:00 to 22:00 local.
const DAY_START_MIN: i64 = 6 * 60;
const DAY_END_MIN: i64 = 22 * 60;

fn card(ctx: &Ctx, r: &WorkOrderRow, now: i64, style: Option<String>) -> Markup {
    let risk = match layout::risk(&r.status, r.sla_due_ms, now) {
        Risk::Overdue => "risk-overdue",
        Risk::DueSoon => "risk-soon",
        Risk::Fine => "",
    };
    html! {
        article class={"card st-" (r.status) " " (risk)} draggable="true" data-id=(r.id)
            data-tod=[r.window_start_ms.map(|s| fmt::minute_of_day(s, &ctx.tz))]
            data-dur=(window_minutes(r))
            style=[style] aria-label={(r.number) " " (r.customer_name)} {
            a.num href={"/console/orders/" (r.id)} { (r.number) }
            " " span.card-status { (layout::status(ctx, &r.status)) }
            " " (layout::priority(ctx, &r.priority))
            @if r.open_flags > 0 { " " span.badge.flag title=(ctx.t("order.flags")) { "⚑ " (r.open_flags) } }
            div.cust { (r.customer_name) }
            div.meta {
                @if let (Some(s), Some(e)) = (r.window_start_ms, r.window_end_ms) {
                    (fmt::time(s, &ctx.tz)) "–" (fmt::time(e, &ctx.tz)) " "
                }
                (layout::risk_badge(ctx, &r.status, r.sla_due_ms, now))
            }
            a.assign href={"/console/orders/" (r.id) "/assign"} { (ctx.t("board.assign")) }
        }
    }
}

/// The length of an order's window in minutes (two hours when it has none), kept when the
/// order is dragged to another time.
fn window_minutes(r: &WorkOrderRow) -> i64 {
    match (r.window_start_ms, r.window_end_ms) {
        (Some(a), Some(b)) if b > a => (b - a) / 60_000,
        _ => 120,
    }
}

/// Pack a lane's orders into rows so overlapping windows do not hide each other.
fn rows_of<'a>(
    orders: &'a [WorkOrderRow],
    tz: &TimeZone,
) -> Vec<(usize, &'a WorkOrderRow, i64, i64)> {
    let mut row_end: Vec<i64> = Vec::new();
    let mut out = Vec::new();
    for r in orders {
        let s = r
            .window_start_ms
            .map_or(DAY_START_MIN, |s| fmt::minute_of_day(s, tz));
        let e = match (r.window_start_ms, r.window_end_ms) {
            (Some(a), Some(b)) => s + ((b - a) / 60_000).max(30),
            _ => s + 60,
        };
        let s = s.clamp(DAY_START_MIN, DAY_END_MIN - 30);
        let e = e.clamp(s + 30, DAY_END_MIN);
        let row = match row_end.iter().position(|&end| end <= s) {
            Some(i) => i,
            None => {
                row_end.push(0);
                row_end.len() - 1
            }
        };
        row_end[row] = e;
        out.push((row, r, s, e));
    }
    out
}

fn day_lane(ctx: &Ctx, data: &BoardData, orders: &[WorkOrderRow]) -> Markup {
    let now = data.now;
    let span = (DAY_END_MIN - DAY_START_MIN) as f64;
    let placed = rows_of(orders, &ctx.tz);
    let rows = placed.iter().map(|p| p.0 + 1).max().unwrap_or(1);
    // Where a drop lands in time: the script reads these (a local date and clock minutes).
    html! {
        div.timeline data-day=(data.first.iso()) data-origin-min=(DAY_START_MIN)
            data-span-min=(DAY_END_MIN - DAY_START_MIN)
            style={"height:" (rows * 68 + 4) "px"} {
            @for (row, r, s, e) in &placed {
                (card(ctx, r, now, Some(format!(
                    "left:{:.2}%;width:{:.2}%;top:{}px",
                    (*s - DAY_START_MIN) as f64 / span * 100.0,
                    (*e - *s) as f64 / span * 100.0,
                    row * 68 + 2
                ))))
            }
        }
    }
}

fn week_lane(ctx: &Ctx, data: &BoardData, orders: &[WorkOrderRow]) -> Markup {
    html! {
        div.week {
            @for d in 0..data.days {
                @let day = data.first.add_days(d);
                @let (a, b) = (day.start_ms(&ctx.tz), day.add_days(1).start_ms(&ctx.tz));
                div.day data-day=(day.iso()) {
                    @for r in orders.iter().filter(|r| r.window_start_ms.is_some_and(|s| s >= a && s < b)) {
                        (card(ctx, r, data.now, None))
                    }
                }
            }
        }
    }
}

/// The board itself (what the live update replaces).
pub fn render(ctx: &Ctx, data: &BoardData, week: bool) -> Markup {
    let empty = Vec::new();
    html! {
        div.board-grid {
            section.lane.unassigned data-engineer="" aria-labelledby="unassigned-h" {
                h2 #unassigned-h { (ctx.t("board.unassigned")) " " span.count { (data.unassigned.len()) } }
                div.stack {
                    @for r in &data.unassigned { (card(ctx, r, data.now, None)) }
                }
            }
            section.lanes aria-label=(ctx.t("board.lanes")) {
                div.scale {
                    div.who-h { (ctx.t("board.engineer")) }
                    @if week {
                        div.week { @for d in 0..data.days { div.day-h { (data.first.add_days(d).label(ctx.lang)) } } }
                    } @else {
                        div.hours { @for h in (DAY_START_MIN / 60)..(DAY_END_MIN / 60) { span { (format!("{h:02}")) } } }
                    }
                }
                @for e in &data.engineers {
                    @let orders = data.lanes.get(&e.id).unwrap_or(&empty);
                    @let waiting = data.unscheduled.get(&e.id).unwrap_or(&empty);
                    div.lane data-engineer=(e.id) {
                        div.who-h {
                            a href={"/console/engineers/" (e.id)} { (e.name) }
                            span.count title=(ctx.t("board.orders_in_period")) { (orders.len()) }
                            div.skills { (e.profile.skills.join(" · ")) }
                            @if !waiting.is_empty() {
                                details.unscheduled {
                                    summary { (ctx.t("board.unscheduled")) " " span.count { (waiting.len()) } }
                                    @for r in waiting { (card(ctx, r, data.now, None)) }
                                }
                            }
                        }
                        @if week { (week_lane(ctx, data, orders)) } @else { (day_lane(ctx, data, orders)) }
                    }
                }
            }
        }
    }
}

fn timing(resp: &mut Response, started: Instant) {
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(v) = HeaderValue::from_str(&format!("board;dur={ms:.1}")) {
        resp.headers_mut().insert("server-timing", v);
    }
}

/// `GET /console/board`
pub async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    office: Office,
    axum::extract::Query(q): axum::extract::Query<BoardQuery>,
) -> Result<Response, AppError> {
    let started = Instant::now();
    let data = load(&state, &ctx, &office, &q).await?;
    let week = q.week();
    let step = if week { 7 } else { 1 };
    let today = Date::of(data.now, &ctx.tz);
    let sel = |v: &Option<String>, x: &str| BoardQuery::nonempty(v) == Some(x);
    let all_skills = skills(&state, &ctx).await;
    let body = html! {
        div.page-head {
            h1 { (ctx.t("board.title")) " · "
                @if week { (data.first.label(ctx.lang)) " – " (data.first.add_days(6).label(ctx.lang)) }
                @else { (data.first.label(ctx.lang)) } }
            span #live.live role="status" aria-live="polite" data-idle=(ctx.t("board.live")) { (ctx.t("board.live")) }
        }
        (layout::flash(&ctx, q.done.as_deref()))
        nav.period aria-label=(ctx.t("board.period")) {
            a href={"/console/board?" (q.query_string(data.first.add_days(-step)))} { "← " (ctx.t("board.previous")) }
            a href={"/console/board?" (q.query_string(today))} { (ctx.t("board.today")) }
            a href={"/console/board?" (q.query_string(data.first.add_days(step)))} { (ctx.t("board.next")) " →" }
            @if week {
                a href={"/console/board?" (BoardQuery { view: Some("day".into()), ..q.clone() }.query_string(data.first))} { (ctx.t("board.day")) }
            } @else {
                a href={"/console/board?" (BoardQuery { view: Some("week".into()), ..q.clone() }.query_string(data.first))} { (ctx.t("board.week")) }
            }
        }
        form.filters method="get" action="/console/board" {
            input type="hidden" name="view" value=(if week { "week" } else { "day" });
            label { (ctx.t("board.date")) " " input type="date" name="date" value=(data.first.iso()); }
            label { (ctx.t("board.area")) " "
                select name="area" {
                    option value="" { (ctx.t("board.any")) }
                    @for (id, name) in &data.territories { option value=(id) selected[sel(&q.area, id)] { (name) } }
                }
            }
            label { (ctx.t("board.skill")) " "
                select name="skill" {
                    option value="" { (ctx.t("board.any")) }
                    @for s in &all_skills { option value=(s) selected[sel(&q.skill, s)] { (s) } }
                }
            }
            label { (ctx.t("board.priority")) " "
                select name="priority" {
                    option value="" { (ctx.t("board.any")) }
                    @for p in ["urgent", "high", "normal", "low"] {
                        option value=(p) selected[sel(&q.priority, p)] { (ctx.t(&format!("priority.{p}"))) }
                    }
                }
            }
            label { (ctx.t("board.customer")) " " input type="search" name="customer" value=[q.customer.as_deref()]; }
            button type="submit" { (ctx.t("board.filter")) }
        }
        p.legend {
            @for s in ["new", "assigned", "en_route", "on_site", "needs_parts", "completed", "cancelled", "closed"] {
                (layout::status(&ctx, s)) " "
            }
            span.badge.sla-soon { (ctx.t("sla.due_soon")) } " " span.badge.sla-overdue { (ctx.t("sla.overdue")) }
        }
        p.hint { (ctx.t("board.hint")) }
        div #board data-fragment={"/console/board/fragment?" (q.query_string(data.first))} { (render(&ctx, &data, week)) }
    };
    let mut resp = layout::page(&ctx, ctx.t("board.title"), "board", body).into_response();
    timing(&mut resp, started);
    Ok(resp)
}

/// The skills any engineer has, for the filter.
async fn skills(state: &AppState, ctx: &Ctx) -> Vec<String> {
    let mut all: Vec<String> = crate::accounts::list_engineers(&state.db, ctx.caller().org, None)
        .await
        .unwrap_or_default()
        .into_iter()
        .flat_map(|e| e.profile.skills)
        .collect();
    all.sort();
    all.dedup();
    all
}

/// `GET /console/board/fragment`: just the board, for the live update.
pub async fn fragment(
    State(state): State<AppState>,
    ctx: Ctx,
    office: Office,
    axum::extract::Query(q): axum::extract::Query<BoardQuery>,
) -> Result<Response, AppError> {
    let started = Instant::now();
    let data = load(&state, &ctx, &office, &q).await?;
    let mut resp = render(&ctx, &data, q.week()).into_response();
    timing(&mut resp, started);
    Ok(resp)
}
