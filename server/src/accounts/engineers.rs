//! Engineer profiles: skills, home base, working hours, last known location.

use super::check_coordinates;
use crate::db::Db;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;
use sync_core::{OrgId, UserId};
use utoipa::ToSchema;

/// When an engineer works: ISO weekdays (1 = Monday ... 7 = Sunday) and minutes after local
/// midnight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkingHours {
    pub days: Vec<u8>,
    pub start_minute: u16,
    pub end_minute: u16,
}

impl Default for WorkingHours {
    fn default() -> Self {
        WorkingHours {
            days: vec![1, 2, 3, 4, 5],
            start_minute: 8 * 60,
            end_minute: 17 * 60,
        }
    }
}

impl WorkingHours {
    fn check(&self) -> Result<()> {
        if self.days.iter().any(|d| !(1..=7).contains(d))
            || self.start_minute >= self.end_minute
            || self.end_minute > 24 * 60
        {
            return Err(Error::Invalid("working hours are out of range".into()));
        }
        Ok(())
    }

    fn day_mask(&self) -> i64 {
        self.days.iter().fold(0, |m, d| m | (1 << (d - 1)))
    }

    fn from_mask(mask: i64, start: i64, end: i64) -> Self {
        WorkingHours {
            days: (1..=7u8).filter(|d| mask & (1 << (d - 1)) != 0).collect(),
            start_minute: start as u16,
            end_minute: end as u16,
        }
    }
}

/// A point on the map.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
}

/// The last position an engineer's phone reported.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LastLocation {
    pub lat: f64,
    pub lon: f64,
    pub at_ms: i64,
}

/// What dispatch knows about an engineer, besides the user record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EngineerProfile {
    pub skills: Vec<String>,
    pub home: Option<GeoPoint>,
    pub working_hours: WorkingHours,
    pub last_location: Option<LastLocation>,
}

/// An engineer as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Engineer {
    pub id: String,
    pub email: String,
    pub name: String,
    #[serde(flatten)]
    pub profile: EngineerProfile,
}

/// Write an engineer's profile and skills (replacing what was there).
pub async fn put_engineer_profile(
    conn: &mut AnyConnection,
    org: OrgId,
    user: UserId,
    p: &EngineerProfile,
) -> Result<()> {
    p.working_hours.check()?;
    if let Some(h) = p.home {
        check_coordinates(h.lat, h.lon)?;
    }
    if let Some(l) = p.last_location {
        check_coordinates(l.lat, l.lon)?;
    }
    let (org_s, user_s) = (org.to_string(), user.to_string());
    sqlx::query(
        "INSERT INTO engineer_profiles (org_id, user_id, home_lat, home_lon, work_days, \
         work_start_min, work_end_min, last_lat, last_lon, last_seen_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (org_id, user_id) DO UPDATE SET home_lat = excluded.home_lat, \
         home_lon = excluded.home_lon, work_days = excluded.work_days, \
         work_start_min = excluded.work_start_min, work_end_min = excluded.work_end_min, \
         last_lat = excluded.last_lat, last_lon = excluded.last_lon, \
         last_seen_at = excluded.last_seen_at",
    )
    // sqlx 0.9's Any driver binds a NULL f64 as a PostgreSQL float4 (its Real/Double null
    // mapping is swapped). A cached prepared statement would then keep float4 for a parameter
    // that is sometimes a real f64 and fail with "incorrect binary data format", so this
    // statement, the one that binds optional floats, is prepared per execution.
    .persistent(false)
    .bind(&org_s)
    .bind(&user_s)
    .bind(p.home.map(|h| h.lat))
    .bind(p.home.map(|h| h.lon))
    .bind(p.working_hours.day_mask())
    .bind(i64::from(p.working_hours.start_minute))
    .bind(i64::from(p.working_hours.end_minute))
    .bind(p.last_location.map(|l| l.lat))
    .bind(p.last_location.map(|l| l.lon))
    .bind(p.last_location.map(|l| l.at_ms))
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM engineer_skills WHERE org_id = $1 AND user_id = $2")
        .bind(&org_s)
        .bind(&user_s)
        .execute(&mut *conn)
        .await?;
    let mut skills: Vec<String> = p
        .skills
        .iter()
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    skills.sort();
    skills.dedup();
    for skill in skills {
        sqlx::query("INSERT INTO engineer_skills (org_id, user_id, skill) VALUES ($1, $2, $3)")
            .bind(&org_s)
            .bind(&user_s)
            .bind(skill)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Record where an engineer's phone last was (reported while online). Only moves forward in
/// time: a delayed report never overwrites a newer position.
pub async fn report_location(
    conn: &mut AnyConnection,
    org: OrgId,
    user: UserId,
    at: LastLocation,
) -> Result<()> {
    check_coordinates(at.lat, at.lon)?;
    sqlx::query(
        "UPDATE engineer_profiles SET last_lat = $3, last_lon = $4, last_seen_at = $5          WHERE org_id = $1 AND user_id = $2            AND (last_seen_at IS NULL OR last_seen_at < $5)",
    )
    .persistent(false) // optional floats: see put_engineer_profile
    .bind(org.to_string())
    .bind(user.to_string())
    .bind(at.lat)
    .bind(at.lon)
    .bind(at.at_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// Engineers of `org` (all, or one), by name.
pub async fn list_engineers(db: &Db, org: OrgId, only: Option<UserId>) -> Result<Vec<Engineer>> {
    let only = only.map(|u| u.to_string()).unwrap_or_default();
    let rows = sqlx::query(
        "SELECT u.id, u.email, u.name, p.home_lat, p.home_lon, p.work_days, p.work_start_min, \
         p.work_end_min, p.last_lat, p.last_lon, p.last_seen_at \
         FROM users u LEFT JOIN engineer_profiles p ON p.org_id = u.org_id AND p.user_id = u.id \
         WHERE u.org_id = $1 AND u.role = 'engineer' AND ($2 = '' OR u.id = $2) \
         ORDER BY u.name, u.id",
    )
    .bind(org.to_string())
    .bind(&only)
    .fetch_all(db.pool())
    .await?;
    let skills: Vec<(String, String)> = sqlx::query_as(
        "SELECT user_id, skill FROM engineer_skills WHERE org_id = $1 AND ($2 = '' OR user_id = $2) \
         ORDER BY user_id, skill",
    )
    .bind(org.to_string())
    .bind(&only)
    .fetch_all(db.pool())
    .await?;
    let mut skills_of: HashMap<String, Vec<String>> = HashMap::new();
    for (user, skill) in skills {
        skills_of.entry(user).or_default().push(skill);
    }
    rows.iter()
        .map(|r| {
            let id: String = r.try_get("id")?;
            let point = |lat: Option<f64>, lon: Option<f64>| lat.zip(lon);
            let home = point(r.try_get("home_lat")?, r.try_get("home_lon")?)
                .map(|(lat, lon)| GeoPoint { lat, lon });
            let last = point(r.try_get("last_lat")?, r.try_get("last_lon")?);
            let last_at: Option<i64> = r.try_get("last_seen_at")?;
            let working_hours = match r.try_get::<Option<i64>, _>("work_days")? {
                Some(mask) => WorkingHours::from_mask(
                    mask,
                    r.try_get("work_start_min")?,
                    r.try_get("work_end_min")?,
                ),
                None => WorkingHours::default(),
            };
            Ok::<_, Error>(Engineer {
                email: r.try_get("email")?,
                name: r.try_get("name")?,
                profile: EngineerProfile {
                    skills: skills_of.remove(&id).unwrap_or_default(),
                    home,
                    working_hours,
                    last_location: last.zip(last_at).map(|((lat, lon), at_ms)| LastLocation {
                        lat,
                        lon,
                        at_ms,
                    }),
                },
                id,
            })
        })
        .collect()
}

/// Whether `user` is an engineer of `org`.
pub async fn is_engineer(conn: &mut AnyConnection, org: OrgId, user: UserId) -> Result<bool> {
    let role: Option<String> =
        sqlx::query_scalar("SELECT role FROM users WHERE org_id = $1 AND id = $2")
            .bind(org.to_string())
            .bind(user.to_string())
            .fetch_optional(conn)
            .await?;
    Ok(role.as_deref() == Some("engineer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_hours_round_trip_through_the_day_mask() {
        let h = WorkingHours {
            days: vec![1, 3, 7],
            start_minute: 420,
            end_minute: 1140,
        };
        h.check().unwrap();
        assert_eq!(WorkingHours::from_mask(h.day_mask(), 420, 1140), h);
        let bad = WorkingHours {
            days: vec![0],
            ..WorkingHours::default()
        };
        assert!(bad.check().is_err());
    }
}
