//! The map: open orders' sites and engineers' last known positions (or home bases), drawn as
//! an SVG in an equirectangular projection scaled by the cosine of the middle latitude, which
//! is true enough at city scale and needs no tiles or network.

use super::layout;
use super::session::Ctx;
use crate::auth::Office;
use crate::error::{AppError, Json, Query};
use crate::routes::dispatch::{self, ListFilter};
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;

const W: f64 = 1000.0;
const H: f64 = 700.0;

/// `GET /console/map`
pub async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    office: Office,
) -> Result<Response, AppError> {
    let Json(list) = dispatch::list_work_orders(
        State(state.clone()),
        office.clone(),
        Query(ListFilter {
            status: Some("new,assigned,en_route,on_site,needs_parts".into()),
            limit: Some(1000),
            ..ListFilter::default()
        }),
    )
    .await?;
    let Json(engineers) = crate::routes::engineers::list_engineers(State(state), office).await?;
    let sites: Vec<_> = list
        .items
        .iter()
        .map(|o| (o.site_lat, o.site_lon, o))
        .collect();
    let people: Vec<_> = engineers
        .iter()
        .filter_map(|e| {
            e.profile
                .last_location
                .map(|l| (l.lat, l.lon, true))
                .or(e.profile.home.map(|h| (h.lat, h.lon, false)))
                .map(|(lat, lon, live)| (lat, lon, live, e))
        })
        .collect();
    let lats = sites.iter().map(|s| s.0).chain(people.iter().map(|p| p.0));
    let lons = sites.iter().map(|s| s.1).chain(people.iter().map(|p| p.1));
    let (mut lat0, mut lat1) = lats.fold((90f64, -90f64), |(a, b), x| (a.min(x), b.max(x)));
    let (mut lon0, mut lon1) = lons.fold((180f64, -180f64), |(a, b), x| (a.min(x), b.max(x)));
    if lat0 > lat1 {
        (lat0, lat1, lon0, lon1) = (31.0, 31.4, 121.2, 121.7);
    }
    let k = ((lat0 + lat1) / 2.0).to_radians().cos();
    let pad = 0.05 * (lat1 - lat0).max((lon1 - lon0) * k).max(0.01);
    let (lat0, lat1) = (lat0 - pad, lat1 + pad);
    let (lon0, lon1) = (lon0 - pad / k, lon1 + pad / k);
    let scale = (W / ((lon1 - lon0) * k)).min(H / (lat1 - lat0));
    let x = |lon: f64| (lon - lon0) * k * scale;
    let y = |lat: f64| (lat1 - lat) * scale;
    let body = html! {
        h1 { (ctx.t("map.title")) }
        p.legend {
            span.dot.site {} " " (ctx.t("map.site")) " · "
            span.dot.engineer {} " " (ctx.t("map.engineer_live")) " · "
            span.dot.engineer.home {} " " (ctx.t("map.engineer_home"))
        }
        figure.map {
            svg viewBox={"0 0 " (W) " " (H)} role="img" aria-labelledby="map-title" {
                title #map-title { (ctx.t("map.title")) }
                rect width=(W) height=(H) class="sea" {}
                @for (lat, lon, o) in &sites {
                    a href={"/console/orders/" (o.id)} {
                        circle class={"site st-" (o.status)} cx=(format!("{:.1}", x(*lon))) cy=(format!("{:.1}", y(*lat))) r="6" {
                            title { (o.number) " · " (o.customer_name) " · " (ctx.t(&format!("status.{}", o.status))) }
                        }
                    }
                }
                @for (lat, lon, live, e) in &people {
                    g class=(if *live { "engineer" } else { "engineer home" }) {
                        rect x=(format!("{:.1}", x(*lon) - 6.0)) y=(format!("{:.1}", y(*lat) - 6.0)) width="12" height="12" {
                            title { (e.name) }
                        }
                        text x=(format!("{:.1}", x(*lon) + 9.0)) y=(format!("{:.1}", y(*lat) + 4.0)) { (e.name) }
                    }
                }
            }
            figcaption { (sites.len()) " " (ctx.t("map.open_orders")) " · " (people.len()) " " (ctx.t("map.engineers")) }
        }
    };
    Ok(layout::page(&ctx, ctx.t("map.title"), "map", body).into_response())
}
