//! The check-in geofence: how far the phone is from the site, and whether that is off-site.

use crate::error::{ApiError, Result};
use crate::records::GeoPosition;
use geo::{Distance, Haversine, Point};

/// The judgement of one position against a site.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Verdict {
    /// Great-circle distance to the site in metres; `None` without a position or when the site
    /// has no coordinates.
    pub distance_m: Option<f64>,
    pub off_site: bool,
}

/// Check that a position from the app is a position.
pub fn validate(p: &GeoPosition) -> Result<()> {
    // `contains` is false for NaN, so this also refuses non-finite values.
    if !(-90.0..=90.0).contains(&p.lat) || !(-180.0..=180.0).contains(&p.lon) {
        return Err(ApiError::input("position out of range"));
    }
    if p.accuracy_m.is_some_and(|a| !(a.is_finite() && a >= 0.0)) {
        return Err(ApiError::input(
            "position accuracy must be a non-negative number",
        ));
    }
    Ok(())
}

/// Great-circle distance in metres (geo's Haversine, GRS80 mean radius).
pub fn distance_m(a_lat: f64, a_lon: f64, b_lat: f64, b_lon: f64) -> f64 {
    Haversine.distance(Point::new(a_lon, a_lat), Point::new(b_lon, b_lat))
}

/// Judge `position` against the site at (`site_lat`, `site_lon`) with `radius_m`.
///
/// - No position (no GPS fix): not judged, not off-site; the check-in records no position.
/// - A site at exactly (0, 0) has no coordinates (that is how an order without them reads): not
///   judged.
/// - Otherwise off-site when the distance exceeds the radius by more than the fix's accuracy
///   (at most one radius of allowance): a fix 180 m away with ±50 m accuracy may well be on a
///   150 m site, one 400 m away with ±2 km accuracy is not.
pub fn judge(
    site_lat: f64,
    site_lon: f64,
    position: Option<&GeoPosition>,
    radius_m: f64,
) -> Verdict {
    let site_known =
        site_lat.is_finite() && site_lon.is_finite() && !(site_lat == 0.0 && site_lon == 0.0);
    match position {
        Some(p) if site_known => {
            let d = distance_m(p.lat, p.lon, site_lat, site_lon);
            let allowance = p.accuracy_m.unwrap_or(0.0).clamp(0.0, radius_m);
            Verdict {
                distance_m: Some(d),
                off_site: d - allowance > radius_m,
            }
        }
        _ => Verdict {
            distance_m: None,
            off_site: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(lat: f64, lon: f64, acc: Option<f64>) -> GeoPosition {
        GeoPosition {
            lat,
            lon,
            accuracy_m: acc,
        }
    }

    #[test]
    fn inside_the_radius_is_on_site_and_far_away_is_off_site() {
        // The Bund, Shanghai; 0.001 degrees of latitude is about 111 m.
        let (lat, lon) = (31.2400, 121.4900);
        let near = judge(lat, lon, Some(&at(lat + 0.001, lon, None)), 150.0);
        assert!(!near.off_site);
        assert!((near.distance_m.unwrap() - 111.2).abs() < 1.0, "{near:?}");
        let far = judge(lat, lon, Some(&at(lat + 0.01, lon, None)), 150.0);
        assert!(far.off_site);
        assert!((far.distance_m.unwrap() - 1112.0).abs() < 5.0, "{far:?}");
    }

    #[test]
    fn accuracy_gives_at_most_one_radius_of_allowance() {
        let (lat, lon) = (51.5, -0.12);
        let p = at(lat + 0.0016, lon, Some(50.0)); // ~178 m
        assert!(!judge(lat, lon, Some(&p), 150.0).off_site);
        let p = at(lat + 0.0036, lon, Some(2000.0)); // ~400 m, a very poor fix
        assert!(judge(lat, lon, Some(&p), 150.0).off_site);
    }

    #[test]
    fn no_fix_or_no_site_coordinates_is_not_judged() {
        assert_eq!(
            judge(31.0, 121.0, None, 150.0),
            Verdict {
                distance_m: None,
                off_site: false
            }
        );
        assert!(!judge(0.0, 0.0, Some(&at(31.0, 121.0, None)), 150.0).off_site);
    }

    #[test]
    fn positions_are_validated() {
        assert!(validate(&at(91.0, 0.0, None)).is_err());
        assert!(validate(&at(f64::NAN, 0.0, None)).is_err());
        assert!(validate(&at(0.0, 0.0, Some(-1.0))).is_err());
        assert!(validate(&at(-33.9, 151.2, Some(8.0))).is_ok());
    }
}
