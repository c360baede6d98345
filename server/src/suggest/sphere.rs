//! Great-circle geometry: distances (geo's Haversine), points on the unit sphere for the
//! R-tree, and a lower bound on distance from the R-tree's chord lengths.
//!
//! The R-tree holds 3-D unit vectors, so its Euclidean (chord) order is the great-circle order
//! everywhere: no seam at the antimeridian, no squeeze at the poles, unlike an index on raw
//! latitude and longitude.

use super::LatLon;
use geo::{Distance, Haversine, Point};
use std::f64::consts::PI;

/// geo's Haversine radius (GRS80 mean radius), in km.
fn earth_radius_km() -> f64 {
    Haversine.radius() / 1000.0
}

/// Slack taken off [`min_distance_km`], far above the rounding of either formula (about 0.1 m
/// near antipodes, where `asin` is steepest): the bound must never exceed a computed distance.
const BOUND_SLACK_KM: f64 = 0.01;

/// Great-circle distance in km, by geo's Haversine.
pub(crate) fn distance_km(a: LatLon, b: LatLon) -> f64 {
    let m = Haversine.distance(Point::new(a.lon, a.lat), Point::new(b.lon, b.lat));
    if m.is_nan() {
        // Near-antipodal points can round the haversine above 1, and asin(>1) is NaN: the
        // distance is then half the circumference.
        PI * earth_radius_km()
    } else {
        m / 1000.0
    }
}

/// The point on the unit sphere.
pub(crate) fn unit_vector(p: LatLon) -> [f64; 3] {
    let (lat, lon) = (p.lat.to_radians(), p.lon.to_radians());
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}

/// A lower bound on [`distance_km`] between two points whose unit vectors are `chord2` apart
/// (squared Euclidean distance). Monotonic in `chord2`.
pub(crate) fn min_distance_km(chord2: f64) -> f64 {
    let half = (chord2.max(0.0).sqrt() / 2.0).min(1.0);
    (2.0 * earth_radius_km() * half.asin() - BOUND_SLACK_KM).max(0.0)
}

/// The longitude in `[-180, 180)`, for planar tests against territory polygons.
pub(crate) fn wrap_lon(lon: f64) -> f64 {
    (lon + 180.0).rem_euclid(360.0) - 180.0
}
