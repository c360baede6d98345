//! Dispatch suggestions: which engineers should take a job, best first, and why.
//!
//! Pure computation, no database and no HTTP: the dispatch routes load an organisation's
//! engineers and territories, [`Index::build`] them once, and call [`Index::suggest`] per job.
//! The scoring (weights, filters, reasons) is documented in `docs/dispatch.md`; in short:
//!
//! - **Filters**: an engineer without a usable position is never suggested; under
//!   [`SkillPolicy::RequireAll`] (the default) neither is one missing a required skill; when
//!   the site lies in a [`TerritoryMode::Restrict`] territory, only engineers assigned to one
//!   of the restricted territories containing it are.
//! - **Score** (higher is better): skill match + free share of the job window (working hours in
//!   the organisation's time zone, minus booked windows) + low load + preferred territory −
//!   great-circle travel distance, the distance weighing up to 4× more for urgent jobs (by
//!   priority or by a close SLA), so the nearest capable engineer comes first.
//!
//! [`Index::suggest`] visits engineers nearest first through an R-tree and stops as soon as no
//! farther engineer can reach the current top `limit` (the distance term bounds the best score
//! a farther engineer can have). Its answer is exactly [`Index::suggest_linear`]'s, which scores
//! everyone; a property test holds them equal.

mod calendar;
mod index;
mod score;
mod sphere;
#[cfg(test)]
mod tests;

pub use index::Index;

use serde::{Deserialize, Serialize};
use std::fmt;
use sync_core::UserId;
use sync_core::workorder::Priority;

/// A position in degrees (WGS 84). Latitude is in `-90..=90`; longitude may be any finite
/// value (190 is -170). Anything else is not a usable position.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatLon {
    pub lat: f64,
    pub lon: f64,
}

impl LatLon {
    pub const fn new(lat: f64, lon: f64) -> Self {
        LatLon { lat, lon }
    }

    /// Whether this is a position on Earth (finite, latitude within ±90°).
    pub fn is_valid(self) -> bool {
        self.lat.is_finite() && self.lon.is_finite() && (-90.0..=90.0).contains(&self.lat)
    }
}

impl From<(f64, f64)> for LatLon {
    /// From `(lat, lon)`. Note the order: geo's points are `(x = lon, y = lat)`.
    fn from((lat, lon): (f64, f64)) -> Self {
        LatLon { lat, lon }
    }
}

/// A position reported by an engineer's phone.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LastKnown {
    pub pos: LatLon,
    /// When it was reported, UTC milliseconds.
    pub at_ms: i64,
}

/// A half-open time window `[start_ms, end_ms)`, UTC milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeWindow {
    pub start_ms: i64,
    pub end_ms: i64,
}

impl TimeWindow {
    pub const fn new(start_ms: i64, end_ms: i64) -> Self {
        TimeWindow { start_ms, end_ms }
    }
}

/// A weekly working period in the organisation's local time ([`Settings::utc_offset_minutes`]).
///
/// `end_minute <= start_minute` is a night shift ending the next day (22:00-06:00 is
/// `start_minute: 1320, end_minute: 360`). Minutes run `0..=1440`; a shift with a weekday over
/// 6 or a minute over 1440 is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shift {
    /// 0 = Monday ... 6 = Sunday. (The accounts API numbers days 1 = Monday ... 7 = Sunday.)
    pub weekday: u8,
    /// Minutes after local midnight.
    pub start_minute: u16,
    pub end_minute: u16,
}

impl Shift {
    pub const fn new(weekday: u8, start_minute: u16, end_minute: u16) -> Self {
        Shift {
            weekday,
            start_minute,
            end_minute,
        }
    }
}

/// An organisation's territory identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TerritoryId(pub uuid::Uuid);

impl TerritoryId {
    /// A new random id.
    pub fn new() -> Self {
        TerritoryId(uuid::Uuid::new_v4())
    }
}

impl Default for TerritoryId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for TerritoryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What an engineer's assignment to a territory means for jobs whose site lies in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerritoryMode {
    /// Only engineers assigned to the territory are suggested for sites in it.
    Restrict,
    /// Engineers assigned to the territory get a bonus for sites in it; others are still
    /// suggested.
    Prefer,
}

/// A territory: a (multi)polygon with `x = longitude`, `y = latitude`, in degrees.
///
/// Containment is planar in longitude and latitude, and a site on the boundary is inside. A
/// territory crossing the antimeridian is given as two polygons, one on each side of ±180°.
#[derive(Clone, Debug)]
pub struct Territory {
    pub id: TerritoryId,
    pub name: String,
    pub area: geo::MultiPolygon<f64>,
    pub mode: TerritoryMode,
}

/// What dispatch knows about one engineer.
#[derive(Clone, Debug)]
pub struct EngineerProfile {
    pub id: UserId,
    pub name: String,
    /// Compared trimmed and case-insensitively.
    pub skills: Vec<String>,
    pub home: Option<LatLon>,
    pub last_known: Option<LastKnown>,
    /// Weekly working hours. Empty means not restricted (available any time), as for an
    /// engineer whose hours were never entered.
    pub working_hours: Vec<Shift>,
    /// Work orders currently assigned and not finished.
    pub open_orders: u32,
    /// Scheduled visits.
    pub booked: Vec<TimeWindow>,
    /// Territories the engineer is assigned to. Unknown ids are ignored.
    pub territories: Vec<TerritoryId>,
}

/// A job to staff.
#[derive(Clone, Debug)]
pub struct Job {
    pub site: LatLon,
    /// Compared trimmed and case-insensitively; duplicates count once.
    pub required_skills: Vec<String>,
    /// The scheduled window. `None` is "as soon as possible": the next
    /// [`Settings::default_job_minutes`] from `now_ms`.
    pub window: Option<TimeWindow>,
    pub sla_due_ms: Option<i64>,
    pub priority: Priority,
    /// The time of the request, UTC milliseconds: decides whether a last known position is
    /// fresh and how close the SLA is.
    pub now_ms: i64,
}

/// One suggested engineer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    pub engineer: UserId,
    /// Higher is better; only comparable between suggestions for the same job.
    pub score: f64,
    /// Great-circle distance from the engineer's position to the site.
    pub distance_km: f64,
    pub reasons: Vec<Reason>,
}

/// Which position the distance was measured from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PositionSource {
    /// The phone's last report, recent enough ([`Settings::position_max_age_ms`]).
    LastKnown,
    /// The home base (the last report is missing or old).
    Home,
    /// An old last report, for an engineer without a home base.
    StaleLastKnown,
}

/// Why an engineer got their score: one entry per factor, in a fixed order (skills, distance,
/// load, availability, SLA, territory).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// `matched` of the job's `required` skills (all of them unless [`Reason::MissingSkills`]
    /// follows).
    SkillMatch {
        matched: u32,
        required: u32,
    },
    /// Required skills the engineer lacks (only under [`SkillPolicy::AllowPartial`]).
    MissingSkills {
        skills: Vec<String>,
    },
    Distance {
        km: f64,
        from: PositionSource,
    },
    Load {
        open_orders: u32,
    },
    /// On shift and free for the whole window.
    Available,
    /// Minutes of the window that overlap booked visits.
    Busy {
        overlap_minutes: u32,
    },
    /// Minutes of the window outside working hours.
    OffShift {
        minutes: u32,
    },
    /// The SLA is due within [`Settings::sla_horizon_minutes`] (negative: already breached);
    /// distance weighs more.
    SlaUrgent {
        minutes_left: i64,
    },
    /// The engineer is assigned to this territory, which contains the site.
    InTerritory {
        territory: TerritoryId,
        name: String,
    },
    /// The site lies in this preferred territory, and the engineer is not assigned to it.
    OutsideTerritory {
        territory: TerritoryId,
        name: String,
    },
}

/// Whether an engineer must have every required skill.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkillPolicy {
    /// Engineers missing any required skill are not suggested.
    #[default]
    RequireAll,
    /// Engineers missing skills are suggested, each missing skill costing
    /// [`Weights::missing_skill`] points: with the default weights anyone with all skills ranks
    /// above anyone without, and fewer missing skills rank higher. For jobs nobody is fully
    /// qualified for.
    AllowPartial,
}

/// Score weights, in points. See `docs/dispatch.md` for how they combine.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    /// For matching all required skills (a share of it for some, under `AllowPartial`).
    pub skill: f64,
    /// Penalty per missing skill, under [`SkillPolicy::AllowPartial`].
    pub missing_skill: f64,
    /// For being on shift and unbooked for the whole window (a share of it for part).
    pub availability: f64,
    /// For having no open orders; `load * load_half / (load_half + open_orders)`.
    pub load: f64,
    /// Open orders at which the load term is half of `load`.
    pub load_half: f64,
    /// For being assigned to a preferred territory containing the site.
    pub territory: f64,
    /// Penalty per kilometre of great-circle distance, for a job that is not urgent.
    pub per_km: f64,
    /// Urgency (0..=1) multiplies `per_km` by `1 + urgency * urgent_distance_boost`.
    pub urgent_distance_boost: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            skill: 40.0,
            missing_skill: 100.0,
            availability: 30.0,
            load: 15.0,
            load_half: 3.0,
            territory: 10.0,
            per_km: 0.2,
            urgent_distance_boost: 3.0,
        }
    }
}

/// An organisation's suggestion settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// The organisation's offset from UTC, in minutes (+480 for China), to read working hours.
    /// A fixed offset: where daylight saving applies, pass the offset in force for the jobs
    /// being staffed.
    pub utc_offset_minutes: i32,
    /// A last known position older than this (at the job's `now_ms`) gives way to the home
    /// base.
    pub position_max_age_ms: i64,
    /// Length of the window assessed for a job without one.
    pub default_job_minutes: u32,
    /// An SLA due within this many minutes makes the job urgent, linearly: urgency 0 at the
    /// horizon, 1 at the due time and after.
    pub sla_horizon_minutes: u32,
    pub skill_policy: SkillPolicy,
    pub weights: Weights,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            utc_offset_minutes: 0,
            position_max_age_ms: 2 * 60 * 60 * 1000,
            default_job_minutes: 60,
            sla_horizon_minutes: 8 * 60,
            skill_policy: SkillPolicy::RequireAll,
            weights: Weights::default(),
        }
    }
}

/// A skill as compared: trimmed, lower case.
fn normalize_skill(s: &str) -> String {
    s.trim().to_lowercase()
}
