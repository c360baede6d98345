//! Engineers: skills, working hours, home base, last position and devices (revoke a lost
//! phone), through the API's engineer and device handlers.

use super::layout;
use super::session::Ctx;
use crate::accounts::{Device, GeoPoint, WorkingHours};
use crate::auth::Office;
use crate::error::{AppError, Json};
use crate::routes::engineers::{self as api, UpdateEngineer};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

fn hours(ctx: &Ctx, w: &WorkingHours) -> Markup {
    let days: Vec<String> = w
        .days
        .iter()
        .map(|d| ctx.t(&format!("weekday.{d}")).to_owned())
        .collect();
    let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
    html! { (days.join(" ")) " " (hm(w.start_minute)) "–" (hm(w.end_minute)) }
}

fn devices_table(ctx: &Ctx, devices: &[&Device]) -> Markup {
    html! {
        @if devices.is_empty() { span.muted { (ctx.t("engineer.no_devices")) } }
        ul.devices {
            @for d in devices {
                li {
                    (d.name.clone().unwrap_or_else(|| d.id.clone())) " · "
                    @if let Some(r) = d.revoked_at {
                        span.muted { (ctx.t("engineer.revoked")) " " (layout::when(ctx, r)) }
                    } @else {
                        form.inline method="post" action={"/console/devices/" (d.id) "/revoke"} {
                            (layout::csrf(ctx))
                            button.danger type="submit" aria-label={(ctx.t("engineer.revoke")) " " (d.name.clone().unwrap_or_default())} { (ctx.t("engineer.revoke")) }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /console/engineers`
pub async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    office: Office,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    let Json(engineers) = api::list_engineers(State(state.clone()), office.clone()).await?;
    let Json(devices) = crate::routes::auth::list_devices(State(state), office.0.clone()).await?;
    let mut by_user: HashMap<&str, Vec<&Device>> = HashMap::new();
    for d in &devices {
        by_user.entry(d.user_id.as_str()).or_default().push(d);
    }
    let body = html! {
        h1 { (ctx.t("engineer.title")) }
        (layout::flash(&ctx, q.done.as_deref()))
        table.data {
            thead { tr {
                th { (ctx.t("engineer.name")) } th { (ctx.t("engineer.skills")) } th { (ctx.t("engineer.hours")) }
                th { (ctx.t("engineer.home")) } th { (ctx.t("engineer.last_seen")) } th { (ctx.t("engineer.devices")) }
            } }
            tbody {
                @for e in &engineers {
                    tr {
                        td { a href={"/console/engineers/" (e.id)} { (e.name) } br; span.muted { (e.email) } }
                        td { (e.profile.skills.join(", ")) }
                        td { (hours(&ctx, &e.profile.working_hours)) }
                        td { @if let Some(h) = e.profile.home { (format!("{:.4}, {:.4}", h.lat, h.lon)) } }
                        td { @if let Some(l) = e.profile.last_location { (layout::when(&ctx, l.at_ms)) } }
                        td { (devices_table(&ctx, by_user.get(e.id.as_str()).map(Vec::as_slice).unwrap_or_default())) }
                    }
                }
            }
        }
    };
    Ok(layout::page(&ctx, ctx.t("engineer.title"), "engineers", body).into_response())
}

/// `GET /console/engineers/{id}`
pub async fn edit_page(
    State(state): State<AppState>,
    ctx: Ctx,
    office: Office,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let Json(e) = api::get_engineer(State(state), office.0, Path(id)).await?;
    let w = &e.profile.working_hours;
    let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
    let body = html! {
        h1 { (e.name) }
        form.stacked method="post" action={"/console/engineers/" (e.id)} {
            (layout::csrf(&ctx))
            label for="skills" { (ctx.t("engineer.skills")) " " span.muted { (ctx.t("engineer.skills_hint")) } }
            input #skills name="skills" type="text" value=(e.profile.skills.join(", "));
            fieldset {
                legend { (ctx.t("engineer.days")) }
                @for d in 1..=7u8 {
                    label.check {
                        input type="checkbox" name={"day" (d)} value="1" checked[w.days.contains(&d)];
                        " " (ctx.t(&format!("weekday.{d}")))
                    }
                }
            }
            label for="start" { (ctx.t("engineer.start")) }
            input #start name="start" type="time" value=(hm(w.start_minute)) required;
            label for="end" { (ctx.t("engineer.end")) }
            input #end name="end" type="time" value=(hm(w.end_minute)) required;
            label for="home_lat" { (ctx.t("engineer.home")) " " (ctx.t("order.lat")) }
            input #home_lat name="home_lat" type="number" step="any" value=[e.profile.home.map(|h| h.lat)];
            label for="home_lon" { (ctx.t("engineer.home")) " " (ctx.t("order.lon")) }
            input #home_lon name="home_lon" type="number" step="any" value=[e.profile.home.map(|h| h.lon)];
            button type="submit" { (ctx.t("order.save")) }
        }
    };
    Ok(layout::page(&ctx, &e.name, "engineers", body).into_response())
}

fn minutes_of(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    Some(h.parse::<u16>().ok()? * 60 + m.get(..2)?.parse::<u16>().ok()?)
}

/// `POST /console/engineers/{id}`
pub async fn update(
    State(state): State<AppState>,
    _ctx: Ctx,
    office: Office,
    Path(id): Path<String>,
    axum::Form(f): axum::Form<HashMap<String, String>>,
) -> Result<Redirect, AppError> {
    let get = |k: &str| f.get(k).map(|s| s.trim()).unwrap_or_default();
    let skills = get("skills")
        .split([',', '，'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let days = (1..=7u8)
        .filter(|d| f.contains_key(&format!("day{d}")))
        .collect();
    let bad = |w: &str| AppError::Invalid(format!("{w} is not a time"));
    let working_hours = WorkingHours {
        days,
        start_minute: minutes_of(get("start")).ok_or_else(|| bad("start"))?,
        end_minute: minutes_of(get("end")).ok_or_else(|| bad("end"))?,
    };
    let home = match (get("home_lat").parse(), get("home_lon").parse()) {
        (Ok(lat), Ok(lon)) => Some(GeoPoint { lat, lon }),
        _ => None,
    };
    api::update_engineer(
        State(state),
        office,
        Path(id.clone()),
        Json(UpdateEngineer {
            skills: Some(skills),
            home,
            working_hours: Some(working_hours),
            last_location: None,
        }),
    )
    .await?;
    Ok(Redirect::to("/console/engineers?done=saved"))
}

/// `POST /console/devices/{id}/revoke`: a lost phone; its token stops working and the app
/// wipes its data on its next contact.
pub async fn revoke_device(
    State(state): State<AppState>,
    _ctx: Ctx,
    office: Office,
    Path(id): Path<String>,
) -> Result<Redirect, AppError> {
    crate::routes::auth::revoke_device(State(state), office.0, Path(id)).await?;
    Ok(Redirect::to("/console/engineers?done=revoked"))
}
