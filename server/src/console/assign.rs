//! Assigning one order: the ranked suggestions with their reasons (each a button, the keyboard
//! way to assign), any engineer from a list, and the form the board's drag and drop posts.

use super::fmt;
use super::layout;
use super::session::Ctx;
use crate::auth::Office;
use crate::error::{AppError, Json};
use crate::routes::dispatch::{self, AssignRequest};
use crate::routes::suggestions::{self, SuggestQuery};
use crate::state::AppState;
use crate::suggest::{PositionSource, Reason};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

/// A suggestion's reason in the user's language.
pub fn reason(ctx: &Ctx, r: &Reason) -> String {
    let t = |k: &str, args: &[(&str, String)]| {
        let mut s = ctx.t(k).to_owned();
        for (name, v) in args {
            s = s.replace(&format!("{{{name}}}"), v);
        }
        s
    };
    match r {
        Reason::SkillMatch { required: 0, .. } => t("reason.no_skills", &[]),
        Reason::SkillMatch { matched, required } => t(
            "reason.skills",
            &[
                ("matched", matched.to_string()),
                ("required", required.to_string()),
            ],
        ),
        Reason::MissingSkills { skills } => {
            t("reason.missing_skills", &[("skills", skills.join(", "))])
        }
        Reason::Distance { km, from } => t(
            match from {
                PositionSource::LastKnown => "reason.distance_last",
                PositionSource::Home => "reason.distance_home",
                PositionSource::StaleLastKnown => "reason.distance_stale",
            },
            &[("km", format!("{km:.1}"))],
        ),
        Reason::Load { open_orders } => t("reason.load", &[("n", open_orders.to_string())]),
        Reason::Available => t("reason.available", &[]),
        Reason::Busy { overlap_minutes } => t(
            "reason.busy",
            &[("time", fmt::minutes(ctx.lang, i64::from(*overlap_minutes)))],
        ),
        Reason::OffShift { minutes } => t(
            "reason.off_shift",
            &[("time", fmt::minutes(ctx.lang, i64::from(*minutes)))],
        ),
        Reason::SlaUrgent { minutes_left } if *minutes_left < 0 => t(
            "reason.sla_breached",
            &[("time", fmt::minutes(ctx.lang, *minutes_left))],
        ),
        Reason::SlaUrgent { minutes_left } => t(
            "reason.sla_urgent",
            &[("time", fmt::minutes(ctx.lang, *minutes_left))],
        ),
        Reason::InTerritory { name, .. } => t("reason.in_territory", &[("name", name.clone())]),
        Reason::OutsideTerritory { name, .. } => {
            t("reason.outside_territory", &[("name", name.clone())])
        }
    }
}

/// `GET /console/orders/{id}/assign`: ranked suggestions with their reasons, each a button.
#[derive(Deserialize, Default)]
pub struct SkillsQuery {
    /// Required skills, comma separated (the API's `skills`).
    skills: Option<String>,
}

pub async fn suggestions_page(
    State(state): State<AppState>,
    ctx: Ctx,
    office: Office,
    Path(id): Path<String>,
    axum::extract::Query(sq): axum::extract::Query<SkillsQuery>,
) -> Result<Response, AppError> {
    let skills = sq
        .skills
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let Json(order) =
        dispatch::get_work_order(State(state.clone()), office.0.clone(), Path(id.clone())).await?;
    let Json(ranked) = suggestions::suggestions(
        State(state.clone()),
        office.clone(),
        Path(id.clone()),
        axum::extract::Query(SuggestQuery {
            limit: Some(8),
            skills: skills.clone(),
        }),
    )
    .await?;
    let Json(engineers) =
        crate::routes::engineers::list_engineers(State(state.clone()), office.clone()).await?;
    let body = html! {
        h1 { (ctx.t("assign.title")) " " a href={"/console/orders/" (order.id)} { (order.number) } }
        p { (order.customer_name) " · " (order.site.address) " · " (layout::status(&ctx, &order.status)) }
        form.filters method="get" action={"/console/orders/" (order.id) "/assign"} {
            label for="skills" { (ctx.t("assign.required_skills")) }
            input #skills type="text" name="skills" value=[skills.as_deref()] placeholder="hvac, electrical";
            button type="submit" { (ctx.t("assign.rank")) }
        }
        h2 { (ctx.t("assign.suggested")) }
        @if ranked.is_empty() { p { (ctx.t("assign.nobody")) } }
        ol.suggestions {
            @for s in &ranked {
                li {
                    form method="post" action={"/console/orders/" (order.id) "/assign"} {
                        (layout::csrf(&ctx))
                        input type="hidden" name="engineer_id" value=(s.engineer_id);
                        button type="submit" data-engineer=(s.engineer_id) {
                            (ctx.t("assign.to")) " " (s.name)
                        }
                        " " span.score { (ctx.t("assign.score")) " " (format!("{:.1}", s.score)) }
                        ul.reasons { @for r in &s.reasons { li { (reason(&ctx, r)) } } }
                    }
                }
            }
        }
        h2 { (ctx.t("assign.other")) }
        form method="post" action={"/console/orders/" (order.id) "/assign"} {
            (layout::csrf(&ctx))
            label for="engineer" { (ctx.t("assign.engineer")) }
            select #engineer name="engineer_id" {
                option value="" { (ctx.t("assign.nobody_option")) }
                @for e in &engineers {
                    option value=(e.id) selected[order.assignee_id.as_deref() == Some(e.id.as_str())] { (e.name) }
                }
            }
            button type="submit" { (ctx.t("assign.save")) }
        }
    };
    Ok(layout::page(&ctx, ctx.t("assign.title"), "board", body).into_response())
}

#[derive(Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    engineer_id: String,
    /// Set when a card is dropped at a time on the board: the new window starts on this local
    /// date (`YYYY-MM-DD`) at `minute` minutes of clock time after midnight, in the user's zone,
    /// and lasts `duration_min` minutes.
    #[serde(default)]
    day: Option<String>,
    #[serde(default)]
    minute: Option<i64>,
    #[serde(default)]
    duration_min: Option<i64>,
}

impl AssignForm {
    /// The dropped window in UTC milliseconds. Clock time, not an offset from midnight, so a drop
    /// at 09:00 is 09:00 on the day the clocks change too.
    fn window(&self, tz: &jiff::tz::TimeZone) -> Option<(i64, i64)> {
        let day = fmt::Date::parse(self.day.as_deref()?)?;
        let start = day.at_minute(self.minute?.clamp(0, 1439), tz);
        let minutes = self.duration_min.unwrap_or(120).clamp(15, 31 * 24 * 60);
        Some((start, start + minutes * 60_000))
    }
}

/// `POST /console/orders/{id}/assign` (a form, or the board's drag and drop with `fetch`).
pub async fn assign(
    State(state): State<AppState>,
    ctx: Ctx,
    office: Office,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Form(f): axum::Form<AssignForm>,
) -> Result<Response, AppError> {
    let engineer_id = Some(f.engineer_id.trim().to_owned()).filter(|e| !e.is_empty());
    let assigned = engineer_id.is_some();
    dispatch::assign(
        State(state.clone()),
        office.clone(),
        Path(id.clone()),
        Json(AssignRequest { engineer_id }),
    )
    .await?;
    if let (true, Some((start_ms, end_ms))) = (assigned, f.window(&ctx.tz)) {
        dispatch::schedule(
            State(state),
            office,
            Path(id),
            Json(dispatch::ScheduleRequest { start_ms, end_ms }),
        )
        .await?;
    }
    if headers.contains_key("x-console-fetch") {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    Ok(Redirect::to("/console/board?done=assigned").into_response())
}
