//! The map: open orders' sites and engineers' last known positions (or home bases), drawn as
//! an SVG in the Web Mercator projection at the largest zoom that fits them all. That is the
//! projection of every public tile service, so a deployment that configures `map_tiles` (off by
//! default: the console needs no network) gets the tiles under the same points, as SVG images;
//! the page's content security policy then admits the tile server.

use super::layout;
use super::session::Ctx;
use crate::auth::Office;
use crate::error::{AppError, Json, Query};
use crate::routes::dispatch::{self, ListFilter};
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use maud::html;
use std::f64::consts::PI;

const W: f64 = 1000.0;
const H: f64 = 700.0;
const TILE: f64 = 256.0;

/// Web Mercator world pixels at zoom `z`.
fn world(lat: f64, lon: f64, z: u32) -> (f64, f64) {
    let size = TILE * f64::from(1u32 << z);
    let lat = lat.clamp(-85.0511, 85.0511).to_radians();
    let x = (lon + 180.0) / 360.0 * size;
    let y = (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / PI) / 2.0 * size;
    (x, y)
}

/// The view: a tile zoom, the world-pixel centre at that zoom, and the scale (1 to 2) that
/// makes the points fill the picture; tiles are drawn at that scale too.
struct View {
    z: u32,
    cx: f64,
    cy: f64,
    k: f64,
}

impl View {
    fn fit(points: &[(f64, f64)]) -> View {
        let (mut lat0, mut lat1, mut lon0, mut lon1) = (90f64, -90f64, 180f64, -180f64);
        for (lat, lon) in points {
            (lat0, lat1) = (lat0.min(*lat), lat1.max(*lat));
            (lon0, lon1) = (lon0.min(*lon), lon1.max(*lon));
        }
        if lat0 > lat1 {
            // Nothing to show: Shanghai.
            (lat0, lat1, lon0, lon1) = (31.0, 31.4, 121.2, 121.7);
        }
        let span = |z| {
            let (ax, ay) = world(lat1, lon0, z);
            let (bx, by) = world(lat0, lon1, z);
            (
                (bx - ax).max(1.0),
                (by - ay).max(1.0),
                (ax + bx) / 2.0,
                (ay + by) / 2.0,
            )
        };
        let mut z = 17;
        while z > 1 {
            let (dx, dy, _, _) = span(z);
            if dx <= W * 0.92 && dy <= H * 0.92 {
                break;
            }
            z -= 1;
        }
        let (dx, dy, cx, cy) = span(z);
        let k = (W * 0.92 / dx).min(H * 0.92 / dy).clamp(1.0, 2.0);
        View { z, cx, cy, k }
    }

    fn screen(&self, wx: f64, wy: f64) -> (f64, f64) {
        (
            (wx - self.cx) * self.k + W / 2.0,
            (wy - self.cy) * self.k + H / 2.0,
        )
    }

    fn xy(&self, lat: f64, lon: f64) -> (f64, f64) {
        let (x, y) = world(lat, lon, self.z);
        self.screen(x, y)
    }

    /// The tiles under the view: (href, x, y); each is `TILE * k` wide.
    fn tiles(&self, template: &str) -> Vec<(String, f64, f64)> {
        let n = 1i64 << self.z;
        let (hw, hh) = (W / 2.0 / self.k, H / 2.0 / self.k);
        let (tx0, ty0) = (
            ((self.cx - hw) / TILE).floor() as i64,
            ((self.cy - hh) / TILE).floor() as i64,
        );
        let (tx1, ty1) = (
            ((self.cx + hw) / TILE).floor() as i64,
            ((self.cy + hh) / TILE).floor() as i64,
        );
        let mut out = Vec::new();
        for ty in ty0.max(0)..=ty1.min(n - 1) {
            for tx in tx0..=tx1 {
                let href = template
                    .replace("{z}", &self.z.to_string())
                    .replace("{x}", &tx.rem_euclid(n).to_string())
                    .replace("{y}", &ty.to_string());
                let (x, y) = self.screen(tx as f64 * TILE, ty as f64 * TILE);
                out.push((href, x, y));
            }
        }
        out
    }
}

/// `scheme://host[:port]` of a URL template, for the content security policy.
fn origin(template: &str) -> &str {
    let rest = template.find("://").map_or(0, |i| i + 3);
    template[rest..]
        .find('/')
        .map_or(template, |i| &template[..rest + i])
}

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
    let Json(engineers) =
        crate::routes::engineers::list_engineers(State(state.clone()), office).await?;
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
    let points: Vec<(f64, f64)> = list
        .items
        .iter()
        .map(|o| (o.site_lat, o.site_lon))
        .chain(people.iter().map(|p| (p.0, p.1)))
        .collect();
    let view = View::fit(&points);
    let tiles = state.settings.map_tiles.as_deref();
    let body = html! {
        h1 { (ctx.t("map.title")) }
        p.legend {
            span.dot.site {} " " (ctx.t("map.site")) " · "
            span.dot.engineer {} " " (ctx.t("map.engineer_live")) " · "
            span.dot.engineer.home {} " " (ctx.t("map.engineer_home"))
        }
        figure.map {
            // A group, not an image: its site markers are links a keyboard reaches, so assistive
            // technology must see them too (each names its order).
            svg viewBox={"0 0 " (W) " " (H)} role="group" aria-labelledby="map-title" {
                title #map-title { (ctx.t("map.title")) }
                rect width=(W) height=(H) class="sea" {}
                @if let Some(t) = tiles {
                    g.tiles aria-hidden="true" {
                        @for (href, x, y) in view.tiles(t) {
                            image href=(href) x=(format!("{x:.1}")) y=(format!("{y:.1}"))
                                width=(format!("{:.1}", TILE * view.k)) height=(format!("{:.1}", TILE * view.k)) {}
                        }
                    }
                }
                @for o in &list.items {
                    @let (x, y) = view.xy(o.site_lat, o.site_lon);
                    @let label = format!("{} · {} · {}", o.number, o.customer_name, ctx.t(&format!("status.{}", o.status)));
                    a href={"/console/orders/" (o.id)} aria-label=(label) {
                        circle class={"site st-" (o.status)} cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="6" {
                            title { (label) }
                        }
                    }
                }
                @for (lat, lon, live, e) in &people {
                    @let (x, y) = view.xy(*lat, *lon);
                    g class=(if *live { "engineer" } else { "engineer home" }) {
                        rect x=(format!("{:.1}", x - 6.0)) y=(format!("{:.1}", y - 6.0)) width="12" height="12" {
                            title { (e.name) }
                        }
                        text x=(format!("{:.1}", x + 9.0)) y=(format!("{:.1}", y + 4.0)) { (e.name) }
                    }
                }
                @if tiles.is_some() {
                    text.attribution x=(W - 6.0) y=(H - 6.0) text-anchor="end" {
                        (state.settings.map_attribution.as_deref().unwrap_or_default())
                    }
                }
            }
            figcaption { (list.items.len()) " " (ctx.t("map.open_orders")) " · " (people.len()) " " (ctx.t("map.engineers")) }
        }
    };
    let mut resp = layout::page(&ctx, ctx.t("map.title"), "map", body).into_response();
    if let Some(t) = tiles {
        let csp = format!(
            "default-src 'self'; img-src 'self' data: {}; style-src 'self' 'unsafe-inline'; \
             script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; \
             base-uri 'none'",
            origin(t)
        );
        if let Ok(v) = HeaderValue::from_str(&csp) {
            resp.headers_mut().insert("content-security-policy", v);
        }
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_fits_shanghai_and_lists_its_tiles() {
        let v = View::fit(&[(31.0, 121.2), (31.4, 121.7)]);
        let (ax, ay) = v.xy(31.4, 121.2);
        let (bx, by) = v.xy(31.0, 121.7);
        for c in [ax, bx] {
            assert!((0.0..=W).contains(&c), "{c} outside the view");
        }
        for c in [ay, by] {
            assert!((0.0..=H).contains(&c), "{c} outside the view");
        }
        // The points fill the picture: one side spans at least 90 % of it.
        assert!(
            bx - ax >= 0.9 * W || by - ay >= 0.9 * H,
            "{ax} {bx} {ay} {by}"
        );
        let tiles = v.tiles("https://tiles.example/{z}/{x}/{y}.png");
        assert!(!tiles.is_empty() && tiles.len() <= 30, "{}", tiles.len());
        assert!(
            tiles[0]
                .0
                .starts_with(&format!("https://tiles.example/{}/", v.z))
        );
        assert_eq!(
            origin("https://tiles.example:8443/{z}/{x}/{y}.png"),
            "https://tiles.example:8443"
        );
    }
}
