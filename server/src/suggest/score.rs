//! Scoring one engineer for one job, the bound on what a farther engineer can score, and the
//! ranking order. Both search paths go through [`evaluate`] and [`rank`], which is why they
//! agree exactly.

use super::calendar::{self, Availability, MINUTE_MS};
use super::index::{Engineer, Index};
use super::{
    Job, LatLon, PositionSource, Reason, Settings, SkillPolicy, Suggestion, TerritoryMode,
    normalize_skill, sphere,
};
use std::cmp::Ordering;
use sync_core::UserId;
use sync_core::workorder::Priority;

/// What is fixed for one job, computed once per query.
pub(crate) struct JobCtx {
    pub site: LatLon,
    /// Required skills, normalised and deduplicated, with their interned id (`None`: no
    /// engineer has it).
    required: Vec<(String, Option<u32>)>,
    /// The assessed window (see [`calendar::assessed_window`]).
    window: (i64, i64),
    now_ms: i64,
    /// Points lost per km for this job (urgency included).
    pub per_km: f64,
    /// Minutes to the SLA, when it is close enough to make the job urgent.
    sla_minutes_left: Option<i64>,
    /// Restricted territories containing the site (territory indices, ascending).
    pub restrict: Vec<u32>,
    /// Preferred territories containing the site.
    prefer: Vec<u32>,
    /// The most any engineer can score from everything but distance.
    pub max_other_terms: f64,
    /// Nobody can qualify: a required skill that no engineer has, under `RequireAll`.
    pub impossible: bool,
}

impl JobCtx {
    /// `None` when the site is not a position on Earth.
    pub fn new(index: &Index, job: &Job) -> Option<Self> {
        if !job.site.is_valid() {
            return None;
        }
        let settings = index.settings();
        let w = &settings.weights;

        let mut names: Vec<String> = job
            .required_skills
            .iter()
            .map(|s| normalize_skill(s))
            .filter(|s| !s.is_empty())
            .collect();
        names.sort();
        names.dedup();
        let required: Vec<(String, Option<u32>)> = names
            .into_iter()
            .map(|n| {
                let id = index.skill_id(&n);
                (n, id)
            })
            .collect();
        let impossible = settings.skill_policy == SkillPolicy::RequireAll
            && required.iter().any(|(_, id)| id.is_none());

        let window = match job.window {
            Some(w) => calendar::assessed_window(w.start_ms, w.end_ms),
            None => calendar::assessed_window(
                job.now_ms,
                job.now_ms
                    .saturating_add(i64::from(settings.default_job_minutes) * MINUTE_MS),
            ),
        };

        let priority_urgency = match job.priority {
            Priority::Low | Priority::Normal => 0.0,
            Priority::High => 0.5,
            Priority::Urgent => 1.0,
        };
        let (sla_urgency, sla_minutes_left) = match job.sla_due_ms {
            Some(due) => {
                let left_ms = due.saturating_sub(job.now_ms);
                let horizon_ms = i64::from(settings.sla_horizon_minutes) * MINUTE_MS;
                let u = if left_ms <= 0 {
                    1.0
                } else if left_ms >= horizon_ms {
                    0.0
                } else {
                    1.0 - left_ms as f64 / horizon_ms as f64
                };
                (u, (u > 0.0).then(|| left_ms.div_euclid(MINUTE_MS)))
            }
            None => (0.0, None),
        };
        let urgency: f64 = f64::max(priority_urgency, sla_urgency);
        let per_km = w.per_km * (1.0 + urgency * w.urgent_distance_boost);

        let (restrict, prefer) = index.territories_at(job.site);
        let max_load = w.load * load_share(w.load_half, index.min_open_orders());
        let max_territory = if prefer.is_empty() { 0.0 } else { w.territory };
        let max_other_terms = w.skill + w.availability + max_load + max_territory;

        Some(JobCtx {
            site: job.site,
            required,
            window,
            now_ms: job.now_ms,
            per_km,
            sla_minutes_left,
            restrict,
            prefer,
            max_other_terms,
            impossible,
        })
    }

    /// Interned ids of the required skills (`None`: no engineer has it).
    pub fn required_ids(&self) -> impl Iterator<Item = Option<u32>> + '_ {
        self.required.iter().map(|(_, id)| *id)
    }

    /// An upper bound on the score of any engineer at least `min_km` away, with a margin over
    /// the rounding of either sum.
    pub fn score_bound(&self, min_km: f64) -> f64 {
        let far = self.per_km * min_km;
        let bound = self.max_other_terms - far;
        bound + 1e-9 * (1.0 + self.max_other_terms.abs() + far)
    }
}

/// `load_half / (load_half + open)`: 1 when idle, ½ at `load_half` open orders.
fn load_share(load_half: f64, open_orders: u32) -> f64 {
    load_half / (load_half + f64::from(open_orders))
}

/// One engineer's result for one job, everything needed to rank and explain it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Assessment {
    pub engineer: u32,
    pub id: UserId,
    pub score: f64,
    pub distance_km: f64,
    source: PositionSource,
    matched: u32,
    availability: Availability,
}

/// Scores engineer number `engineer`, or `None` when a filter excludes them, or when they
/// would score below `to_beat` (the last place of a full top list: they could not enter it).
pub(crate) fn evaluate(
    e: &Engineer,
    engineer: u32,
    ctx: &JobCtx,
    settings: &Settings,
    to_beat: Option<f64>,
) -> Option<Assessment> {
    let w = &settings.weights;
    let (pos, source) = e.position(ctx.now_ms, settings.position_max_age_ms)?;
    if !ctx.restrict.is_empty() && !ctx.restrict.iter().any(|t| e.in_territory(*t)) {
        return None;
    }
    let matched = ctx
        .required
        .iter()
        .filter(|(_, id)| id.is_some_and(|id| e.has_skill(id)))
        .count() as u32;
    let required = ctx.required.len() as u32;
    let missing = required - matched;
    let skill_term = match settings.skill_policy {
        SkillPolicy::RequireAll if missing > 0 => return None,
        SkillPolicy::RequireAll => w.skill,
        SkillPolicy::AllowPartial if required == 0 => w.skill,
        SkillPolicy::AllowPartial => {
            w.skill * f64::from(matched) / f64::from(required)
                - w.missing_skill * f64::from(missing)
        }
    };
    let distance_km = sphere::distance_km(pos, ctx.site);
    let load_term = w.load * load_share(w.load_half, e.open_orders);
    let territory_term = if ctx.prefer.iter().any(|t| e.in_territory(*t)) {
        w.territory
    } else {
        0.0
    };
    if let Some(to_beat) = to_beat {
        // The score with the whole window free, summed in the same order as below: rounding is
        // monotonic, so the real score is never above it.
        let best =
            skill_term + w.availability + load_term + territory_term - ctx.per_km * distance_km;
        if best < to_beat {
            return None;
        }
    }
    let availability = calendar::availability(
        ctx.window,
        &e.shifts,
        &e.booked,
        settings.utc_offset_minutes,
    );
    let score =
        skill_term + w.availability * availability.free_fraction() + load_term + territory_term
            - ctx.per_km * distance_km;
    Some(Assessment {
        engineer,
        id: e.id,
        score,
        distance_km,
        source,
        matched,
        availability,
    })
}

/// The ranking: higher score first, then nearer, then by engineer id, then by input order (a
/// total order, so the top `limit` is one well-defined set).
pub(crate) fn rank(a: &Assessment, b: &Assessment) -> Ordering {
    b.score
        .total_cmp(&a.score)
        .then(a.distance_km.total_cmp(&b.distance_km))
        .then(a.id.cmp(&b.id))
        .then(a.engineer.cmp(&b.engineer))
}

/// The suggestion with its reasons.
pub(crate) fn explain(a: &Assessment, e: &Engineer, ctx: &JobCtx, index: &Index) -> Suggestion {
    let required = ctx.required.len() as u32;
    let mut reasons = vec![Reason::SkillMatch {
        matched: a.matched,
        required,
    }];
    if a.matched < required {
        let skills = ctx
            .required
            .iter()
            .filter(|(_, id)| !id.is_some_and(|id| e.has_skill(id)))
            .map(|(name, _)| name.clone())
            .collect();
        reasons.push(Reason::MissingSkills { skills });
    }
    reasons.push(Reason::Distance {
        km: a.distance_km,
        from: a.source,
    });
    reasons.push(Reason::Load {
        open_orders: e.open_orders,
    });
    let av = &a.availability;
    if av.off_shift_ms == 0 && av.busy_ms == 0 {
        reasons.push(Reason::Available);
    }
    if av.off_shift_ms > 0 {
        reasons.push(Reason::OffShift {
            minutes: minutes_up(av.off_shift_ms),
        });
    }
    if av.busy_ms > 0 {
        reasons.push(Reason::Busy {
            overlap_minutes: minutes_up(av.busy_ms),
        });
    }
    if let Some(minutes_left) = ctx.sla_minutes_left {
        reasons.push(Reason::SlaUrgent { minutes_left });
    }
    for &t in ctx.restrict.iter().chain(&ctx.prefer) {
        let territory = index.territory(t);
        let (id, name) = (territory.id, territory.name.clone());
        if e.in_territory(t) {
            reasons.push(Reason::InTerritory {
                territory: id,
                name,
            });
        } else if territory.mode == TerritoryMode::Prefer {
            reasons.push(Reason::OutsideTerritory {
                territory: id,
                name,
            });
        }
    }
    Suggestion {
        engineer: a.id,
        score: a.score,
        distance_km: a.distance_km,
        reasons,
    }
}

/// Whole minutes, rounded up (a 30-second overlap is still an overlap).
fn minutes_up(ms: i64) -> u32 {
    u32::try_from((ms + MINUTE_MS - 1) / MINUTE_MS).unwrap_or(u32::MAX)
}
