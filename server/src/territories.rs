//! Territories: named polygons of an organisation. They restrict or prefer engineers for sites
//! inside them (dispatch suggestions), and limit what a dispatcher of that territory sees (the
//! `work_orders.territory_id` projection column, kept here).

use crate::error::{Error, Result};
use crate::suggest::{Territory, TerritoryId, TerritoryMode};
use geo::{Contains, Intersects, MultiPolygon, Point};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use sync_core::{OrgId, UserId};
use utoipa::ToSchema;

/// A territory as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TerritoryOut {
    pub id: String,
    pub name: String,
    /// `restrict`: only its engineers are suggested for sites in it; `prefer`: its engineers
    /// get a bonus.
    pub mode: String,
    /// GeoJSON Polygon or MultiPolygon in `[lon, lat]` degrees.
    #[schema(value_type = Object)]
    pub area: serde_json::Value,
}

/// Parse a GeoJSON Polygon or MultiPolygon (a bare geometry, or a Feature holding one).
pub fn parse_area(area: &serde_json::Value) -> Result<MultiPolygon<f64>> {
    let bad = |why: &str| Error::Invalid(format!("territory area: {why}"));
    let geometry: geojson::Geometry = match area.get("type").and_then(|t| t.as_str()) {
        Some("Feature") => {
            let f: geojson::Feature =
                serde_json::from_value(area.clone()).map_err(|e| bad(&e.to_string()))?;
            f.geometry
                .ok_or_else(|| bad("the feature has no geometry"))?
        }
        _ => serde_json::from_value(area.clone()).map_err(|e| bad(&e.to_string()))?,
    };
    let geo: geo::Geometry<f64> = geometry
        .try_into()
        .map_err(|e: geojson::Error| bad(&e.to_string()))?;
    let mp = match geo {
        geo::Geometry::Polygon(p) => MultiPolygon::new(vec![p]),
        geo::Geometry::MultiPolygon(mp) => mp,
        _ => return Err(bad("must be a Polygon or a MultiPolygon")),
    };
    let valid = mp.0.iter().all(|p| {
        p.exterior().0.len() >= 4
            && p.exterior()
                .0
                .iter()
                .all(|c| c.x.is_finite() && c.y.is_finite() && (-90.0..=90.0).contains(&c.y))
    });
    if mp.0.is_empty() || !valid {
        return Err(bad(
            "every polygon needs a closed ring of at least 3 points in range",
        ));
    }
    Ok(mp)
}

fn parse_mode(mode: &str) -> Result<TerritoryMode> {
    match mode {
        "restrict" => Ok(TerritoryMode::Restrict),
        "prefer" => Ok(TerritoryMode::Prefer),
        other => Err(Error::Invalid(format!(
            "unknown territory mode {other:?}: restrict or prefer"
        ))),
    }
}

/// Every territory of `org`, by name.
pub async fn list(conn: &mut AnyConnection, org: OrgId) -> Result<Vec<TerritoryOut>> {
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT id, name, mode, area FROM territories WHERE org_id = $1 ORDER BY name",
    )
    .bind(org.to_string())
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|(id, name, mode, area)| {
            Ok(TerritoryOut {
                id,
                name,
                mode,
                area: serde_json::from_str(&area)
                    .map_err(|_| Error::Invalid("stored territory area is not JSON".into()))?,
            })
        })
        .collect()
}

/// The territories of `org` as the suggestion engine takes them.
pub async fn for_suggestions(conn: &mut AnyConnection, org: OrgId) -> Result<Vec<Territory>> {
    list(conn, org)
        .await?
        .into_iter()
        .map(|t| {
            Ok(Territory {
                id: TerritoryId(
                    t.id.parse()
                        .map_err(|_| Error::Invalid("stored territory id".into()))?,
                ),
                name: t.name,
                area: parse_area(&t.area)?,
                mode: parse_mode(&t.mode)?,
            })
        })
        .collect()
}

/// Create a territory and re-project the organisation's orders.
pub async fn create(
    conn: &mut AnyConnection,
    org: OrgId,
    name: &str,
    mode: &str,
    area: &serde_json::Value,
) -> Result<TerritoryOut> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::Invalid("a territory needs a name".into()));
    }
    parse_mode(mode)?;
    parse_area(area)?;
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO territories (org_id, id, name, mode, area, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(org.to_string())
    .bind(&id)
    .bind(name)
    .bind(mode)
    .bind(area.to_string())
    .bind(crate::now_ms())
    .execute(&mut *conn)
    .await?;
    reproject(conn, org).await?;
    Ok(TerritoryOut {
        id,
        name: name.to_owned(),
        mode: mode.to_owned(),
        area: area.clone(),
    })
}

/// Delete a territory (and its engineer memberships); re-project the orders.
pub async fn delete(conn: &mut AnyConnection, org: OrgId, id: &str) -> Result<bool> {
    sqlx::query("DELETE FROM engineer_territories WHERE org_id = $1 AND territory_id = $2")
        .bind(org.to_string())
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let gone = sqlx::query("DELETE FROM territories WHERE org_id = $1 AND id = $2")
        .bind(org.to_string())
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    reproject(conn, org).await?;
    Ok(gone > 0)
}

/// Replace an engineer's territories.
pub async fn set_engineer_territories(
    conn: &mut AnyConnection,
    org: OrgId,
    engineer: UserId,
    ids: &[String],
) -> Result<()> {
    let known: Vec<String> = list(conn, org).await?.into_iter().map(|t| t.id).collect();
    if let Some(unknown) = ids.iter().find(|i| !known.contains(i)) {
        return Err(Error::Invalid(format!("unknown territory {unknown}")));
    }
    sqlx::query("DELETE FROM engineer_territories WHERE org_id = $1 AND user_id = $2")
        .bind(org.to_string())
        .bind(engineer.to_string())
        .execute(&mut *conn)
        .await?;
    for id in ids {
        sqlx::query(
            "INSERT INTO engineer_territories (org_id, user_id, territory_id) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(org.to_string())
        .bind(engineer.to_string())
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Territories of every engineer of `org`.
pub async fn engineer_territories(
    conn: &mut AnyConnection,
    org: OrgId,
) -> Result<Vec<(String, String)>> {
    Ok(
        sqlx::query_as("SELECT user_id, territory_id FROM engineer_territories WHERE org_id = $1")
            .bind(org.to_string())
            .fetch_all(conn)
            .await?,
    )
}

/// The territory containing `(lat, lon)`: the first by name whose area contains it (a point on
/// a boundary counts as inside).
pub fn containing(
    territories: &[(String, MultiPolygon<f64>)],
    lat: f64,
    lon: f64,
) -> Option<String> {
    let p = Point::new(lon, lat);
    territories
        .iter()
        .find(|(_, area)| area.contains(&p) || area.intersects(&p))
        .map(|(id, _)| id.clone())
}

/// The areas of `org`'s territories, by name, for projection.
pub async fn areas(
    conn: &mut AnyConnection,
    org: OrgId,
) -> Result<Vec<(String, MultiPolygon<f64>)>> {
    list(conn, org)
        .await?
        .into_iter()
        .map(|t| Ok((t.id, parse_area(&t.area)?)))
        .collect()
}

/// Recompute `work_orders.territory_id` for every order of `org` (after territories change).
pub async fn reproject(conn: &mut AnyConnection, org: OrgId) -> Result<()> {
    let areas = areas(conn, org).await?;
    let rows: Vec<(String, f64, f64)> =
        sqlx::query_as("SELECT id, site_lat, site_lon FROM work_orders WHERE org_id = $1")
            .bind(org.to_string())
            .fetch_all(&mut *conn)
            .await?;
    for (id, lat, lon) in rows {
        sqlx::query("UPDATE work_orders SET territory_id = $3 WHERE org_id = $1 AND id = $2")
            .bind(org.to_string())
            .bind(id)
            .bind(containing(&areas, lat, lon))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// What a dispatcher may see, from their user record: everything, or only orders in their
/// territory, or only orders of their team's engineers (plus unassigned ones, to assign them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DispatchScope {
    pub territory_id: Option<String>,
    pub team: Option<String>,
}

/// The scope of `user` (admins and unrestricted dispatchers: everything).
pub async fn dispatch_scope(
    conn: &mut AnyConnection,
    org: OrgId,
    user: UserId,
) -> Result<DispatchScope> {
    let row: Option<(Option<String>, Option<String>, String)> =
        sqlx::query_as("SELECT territory, team, role FROM users WHERE org_id = $1 AND id = $2")
            .bind(org.to_string())
            .bind(user.to_string())
            .fetch_optional(&mut *conn)
            .await?;
    let Some((territory, team, role)) = row else {
        return Ok(DispatchScope::default());
    };
    if role != "dispatcher" {
        return Ok(DispatchScope::default());
    }
    let territory_id = match territory.filter(|t| !t.trim().is_empty()) {
        None => None,
        Some(t) => {
            // The user record names the territory by name or id; an unknown one sees nothing
            // rather than everything (deny unless allowed).
            let found: Option<String> = sqlx::query_scalar(
                "SELECT id FROM territories WHERE org_id = $1 AND (name = $2 OR id = $2)",
            )
            .bind(org.to_string())
            .bind(t.trim())
            .fetch_optional(&mut *conn)
            .await?;
            Some(found.unwrap_or_else(|| "-".into()))
        }
    };
    Ok(DispatchScope {
        territory_id,
        team: team.filter(|t| !t.trim().is_empty()),
    })
}
