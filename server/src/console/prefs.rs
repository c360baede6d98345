//! The user's own settings: the language and the time zone the console shows times in. Both are
//! kept with the account, so they follow the user to another browser.

use super::i18n::Lang;
use super::layout;
use super::session::Ctx;
use crate::accounts;
use crate::error::AppError;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use sync_core::Role;

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

/// Staff who use the console; engineers and customers have the app and the portal.
fn console_user(ctx: &Ctx) -> Result<(), AppError> {
    match ctx.role() {
        Role::Admin | Role::Dispatcher | Role::Warehouse => Ok(()),
        _ => Err(AppError::Forbidden),
    }
}

/// Every zone of the tz database, sorted, without the old aliases (`US/Pacific`, `Etc/GMT+5`
/// and the like) that nobody should pick today.
fn zone_names() -> Vec<String> {
    let mut v: Vec<String> = jiff::tz::db()
        .available()
        .map(|n| n.as_str().to_owned())
        .filter(|n| {
            n == "UTC"
                || (n.contains('/')
                    && !n.starts_with("Etc/")
                    && !n.starts_with("US/")
                    && !n.starts_with("SystemV/"))
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// `GET /console/preferences`.
pub async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    console_user(&ctx)?;
    let chosen = ctx
        .session
        .time_zone
        .as_ref()
        .and_then(|z| z.iana_name())
        .unwrap_or_default()
        .to_owned();
    let deployment = state.settings.time_zone.iana_name().unwrap_or("UTC");
    let now = crate::now_ms();
    let body = html! {
        h1 { (ctx.t("prefs.title")) }
        (layout::flash(&ctx, q.done.as_deref()))
        form.stacked method="post" action="/console/preferences" {
            (layout::csrf(&ctx))
            label for="language" { (ctx.t("prefs.language")) }
            select #language name="language" {
                @for l in [Lang::En, Lang::ZhCn] {
                    option value=(l.code()) selected[l == ctx.lang] lang=(l.code()) { (l.name()) }
                }
            }
            label for="time_zone" { (ctx.t("prefs.time_zone")) }
            select #time_zone name="time_zone" aria-describedby="tz-hint" {
                option value="" selected[chosen.is_empty()] {
                    (ctx.t("prefs.deployment_zone").replace("{zone}", deployment))
                }
                @for z in zone_names() {
                    option value=(z) selected[z == chosen] { (z) }
                }
            }
            p.hint #tz-hint {
                (ctx.t("prefs.now")) " " (layout::when(&ctx, now))
            }
            button type="submit" { (ctx.t("prefs.save")) }
        }
    };
    Ok(layout::page(&ctx, ctx.t("prefs.title"), "prefs", body).into_response())
}

#[derive(Deserialize)]
pub struct PrefsForm {
    #[serde(default)]
    language: String,
    #[serde(default)]
    time_zone: String,
}

/// `POST /console/preferences`: an unknown zone or language is refused and nothing is changed.
pub async fn save(
    State(state): State<AppState>,
    ctx: Ctx,
    axum::Form(f): axum::Form<PrefsForm>,
) -> Result<Response, AppError> {
    console_user(&ctx)?;
    let lang = match f.language.trim() {
        "" => None,
        code => Some(
            Lang::parse(code)
                .filter(|l| l.code() == code)
                .ok_or_else(|| AppError::Invalid(format!("unknown language {code:?}")))?,
        ),
    };
    let zone = match f.time_zone.trim() {
        "" => None,
        name => {
            let z = crate::config::parse_time_zone(name)
                .ok_or_else(|| AppError::Invalid(format!("{name:?} is not an IANA time zone")))?;
            Some(z.iana_name().unwrap_or(name).to_owned())
        }
    };
    let c = ctx.caller();
    accounts::set_time_zone(&state.db, c.org, c.user, zone.as_deref()).await?;
    if let Some(l) = lang {
        accounts::set_locale(&state.db, c.org, c.user, l.code()).await?;
    }
    Ok(Redirect::to("/console/preferences?done=prefs").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zone_list_holds_real_zones_only() {
        let names = zone_names();
        for z in [
            "UTC",
            "Europe/Berlin",
            "Asia/Shanghai",
            "America/Argentina/Buenos_Aires",
        ] {
            assert!(names.iter().any(|n| n == z), "{z} missing");
        }
        assert!(names.len() > 300, "{} zones", names.len());
        for n in &names {
            assert!(
                !n.starts_with("posix/") && !n.starts_with("right/") && !n.starts_with("Etc/"),
                "{n} is not a zone to offer"
            );
            assert!(
                crate::config::parse_time_zone(n).is_some(),
                "{n} does not load"
            );
        }
    }
}
