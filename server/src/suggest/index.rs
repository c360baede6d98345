//! The index: engineers prepared for scoring, R-trees over their positions on the unit sphere
//! (everyone's, and one per skill with its holders'), and an R-tree over territory bounding
//! boxes.

use super::score::{self, Assessment, JobCtx};
use super::{
    EngineerProfile, Job, LastKnown, LatLon, PositionSource, Settings, Shift, SkillPolicy,
    Suggestion, Territory, TerritoryId, TerritoryMode, Weights, calendar, normalize_skill, sphere,
};
use geo::{BoundingRect, Intersects, Point};
use rstar::RTree;
use rstar::primitives::{GeomWithData, Rectangle};
use std::collections::{BinaryHeap, HashMap};
use sync_core::UserId;

/// When the filters (a restricted territory, a rare required skill) leave at most this many
/// candidates, they are scored one by one instead of walking the R-tree: a short list is cheaper
/// than skipping every non-candidate nearer than them, and the walk has no early stop while
/// fewer than `limit` candidates are found.
const DIRECT_MAX: usize = 512;
/// Candidate lists are built only from a filter list (territory members, holders of a skill)
/// of at most this many times `DIRECT_MAX` engineers.
const SCAN_FACTOR: usize = 4;

/// An R-tree entry: one position of one engineer (home or last known). Which of the two counts
/// depends on the job's `now_ms`, so both are indexed and the other is skipped at query time.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Slot {
    engineer: u32,
    last_known: bool,
}

/// An engineer, prepared for scoring.
#[derive(Clone, Debug)]
pub(crate) struct Engineer {
    pub id: UserId,
    /// Interned skill ids, ascending.
    skills: Vec<u32>,
    home: Option<LatLon>,
    last_known: Option<LastKnown>,
    /// Valid shifts (see `calendar::valid_shifts`).
    pub shifts: Vec<Shift>,
    pub open_orders: u32,
    /// Booked windows, merged and sorted.
    pub booked: Vec<(i64, i64)>,
    /// Territory indices, ascending.
    territories: Vec<u32>,
}

impl Engineer {
    /// Where the engineer is taken to be at `now_ms`: a fresh last known position, else home,
    /// else an old last known position.
    pub fn position(&self, now_ms: i64, max_age_ms: i64) -> Option<(LatLon, PositionSource)> {
        let fresh = |lk: &LastKnown| lk.at_ms.abs_diff(now_ms) <= max_age_ms.max(0) as u64;
        match (self.last_known, self.home) {
            (Some(lk), _) if fresh(&lk) => Some((lk.pos, PositionSource::LastKnown)),
            (_, Some(home)) => Some((home, PositionSource::Home)),
            (Some(lk), None) => Some((lk.pos, PositionSource::StaleLastKnown)),
            (None, None) => None,
        }
    }

    pub fn has_skill(&self, skill: u32) -> bool {
        self.skills.binary_search(&skill).is_ok()
    }

    pub fn in_territory(&self, territory: u32) -> bool {
        self.territories.binary_search(&territory).is_ok()
    }
}

/// Engineers and territories of one organisation, indexed for [`Index::suggest`].
///
/// Build it when the engineers or territories change (it holds no clock: positions are chosen
/// per query from the job's `now_ms`); share it read-only between requests.
#[derive(Clone, Debug)]
pub struct Index {
    engineers: Vec<Engineer>,
    /// Everyone's positions.
    positions: RTree<GeomWithData<[f64; 3], Slot>>,
    /// The positions of each skill's holders (by interned id): a job needing a skill under
    /// `RequireAll` walks the tree of its rarest skill, never visiting anyone without it.
    skill_positions: Vec<RTree<GeomWithData<[f64; 3], Slot>>>,
    territories: Vec<Territory>,
    territory_boxes: RTree<GeomWithData<Rectangle<[f64; 2]>, u32>>,
    /// Engineer indices assigned to each territory, ascending.
    members: Vec<Vec<u32>>,
    skill_ids: HashMap<String, u32>,
    /// Engineer indices holding each skill (by interned id), ascending.
    holders: Vec<Vec<u32>>,
    min_open_orders: u32,
    settings: Settings,
    direct_max: usize,
}

impl Index {
    /// Indexes `engineers` and `territories` with default [`Settings`] (see
    /// [`Index::with_settings`]).
    ///
    /// Positions that are not on Earth (see [`LatLon::is_valid`]) are ignored; an engineer
    /// with no usable position is never suggested. Engineer ids should be unique.
    pub fn build(engineers: Vec<EngineerProfile>, territories: Vec<Territory>) -> Self {
        let territory_index: HashMap<TerritoryId, u32> = territories
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id, i as u32))
            .collect();
        let mut skill_ids: HashMap<String, u32> = HashMap::new();
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); territories.len()];
        let mut slots = Vec::with_capacity(engineers.len() * 2);

        let prepared: Vec<Engineer> = engineers
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let i = i as u32;
                let mut skills: Vec<u32> = p
                    .skills
                    .iter()
                    .map(|s| normalize_skill(s))
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        let next = skill_ids.len() as u32;
                        *skill_ids.entry(s).or_insert(next)
                    })
                    .collect();
                skills.sort_unstable();
                skills.dedup();
                let mut terr: Vec<u32> = p
                    .territories
                    .iter()
                    .filter_map(|t| territory_index.get(t).copied())
                    .collect();
                terr.sort_unstable();
                terr.dedup();
                for &t in &terr {
                    members[t as usize].push(i);
                }
                let home = p.home.filter(|h| h.is_valid());
                let last_known = p.last_known.filter(|lk| lk.pos.is_valid());
                if let Some(h) = home {
                    slots.push(GeomWithData::new(
                        sphere::unit_vector(h),
                        Slot {
                            engineer: i,
                            last_known: false,
                        },
                    ));
                }
                if let Some(lk) = last_known {
                    slots.push(GeomWithData::new(
                        sphere::unit_vector(lk.pos),
                        Slot {
                            engineer: i,
                            last_known: true,
                        },
                    ));
                }
                Engineer {
                    id: p.id,
                    skills,
                    home,
                    last_known,
                    shifts: calendar::valid_shifts(&p.working_hours),
                    open_orders: p.open_orders,
                    booked: calendar::merge(
                        p.booked.iter().map(|b| (b.start_ms, b.end_ms)).collect(),
                    ),
                    territories: terr,
                }
            })
            .collect();

        let mut holders: Vec<Vec<u32>> = vec![Vec::new(); skill_ids.len()];
        for (i, e) in prepared.iter().enumerate() {
            for &skill in &e.skills {
                holders[skill as usize].push(i as u32);
            }
        }
        let mut skill_slots = vec![Vec::new(); skill_ids.len()];
        for slot in &slots {
            let e: &Engineer = &prepared[slot.data.engineer as usize];
            for &skill in &e.skills {
                skill_slots[skill as usize].push(*slot);
            }
        }

        let boxes = territories
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                let r = t.area.bounding_rect()?;
                let (lo, hi) = (r.min(), r.max());
                Some(GeomWithData::new(
                    Rectangle::from_corners([lo.x, lo.y], [hi.x, hi.y]),
                    i as u32,
                ))
            })
            .collect();

        Index {
            min_open_orders: prepared.iter().map(|e| e.open_orders).min().unwrap_or(0),
            engineers: prepared,
            positions: RTree::bulk_load(slots),
            skill_positions: skill_slots.into_iter().map(RTree::bulk_load).collect(),
            territories,
            territory_boxes: RTree::bulk_load(boxes),
            members,
            holders,
            skill_ids,
            settings: sanitize(Settings::default()),
            direct_max: DIRECT_MAX,
        }
    }

    /// Replaces the settings. Negative or non-finite weights count as 0; a `load_half` that is
    /// not positive counts as the default.
    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = sanitize(settings);
        self
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Number of engineers indexed (with or without a usable position).
    pub fn len(&self) -> usize {
        self.engineers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.engineers.is_empty()
    }

    /// The best `limit` engineers for `job`, best first: exactly
    /// [`Index::suggest_linear`]'s answer, found by visiting engineers nearest first and
    /// stopping when no farther engineer can enter the top `limit`.
    ///
    /// Empty when the job's site is not a position on Earth.
    pub fn suggest(&self, job: &Job, limit: usize) -> Vec<Suggestion> {
        let Some(ctx) = JobCtx::new(self, job) else {
            return Vec::new();
        };
        if limit == 0 || ctx.impossible {
            return Vec::new();
        }
        let mut top = TopK::new(limit);

        if let Some(candidates) = self.short_list(&ctx) {
            for i in candidates {
                self.consider(i, &ctx, &mut top);
            }
            return self.finish(top, &ctx);
        }

        // Under RequireAll every candidate holds the rarest required skill: walk its tree.
        let tree = match self.settings.skill_policy {
            SkillPolicy::RequireAll => ctx
                .required_ids()
                .flatten()
                .map(|id| &self.skill_positions[id as usize])
                .min_by_key(|t| t.size())
                .unwrap_or(&self.positions),
            SkillPolicy::AllowPartial => &self.positions,
        };
        let query = sphere::unit_vector(ctx.site);
        let max_age = self.settings.position_max_age_ms;
        for (slot, chord2) in tree.nearest_neighbor_iter_with_distance_2(&query) {
            if let Some(worst) = top.worst_score() {
                // Everyone left is at least this far: if even a perfect engineer there cannot
                // beat the current last place, nobody left can.
                if ctx.score_bound(sphere::min_distance_km(chord2)) < worst {
                    break;
                }
            }
            let Slot {
                engineer,
                last_known,
            } = slot.data;
            let e = &self.engineers[engineer as usize];
            let counts = e
                .position(job.now_ms, max_age)
                .is_some_and(|(_, src)| (src != PositionSource::Home) == last_known);
            if counts {
                self.consider(engineer, &ctx, &mut top);
            }
        }
        self.finish(top, &ctx)
    }

    /// The reference for [`Index::suggest`]: scores every engineer and sorts. For tests and
    /// benchmarks.
    pub fn suggest_linear(&self, job: &Job, limit: usize) -> Vec<Suggestion> {
        let Some(ctx) = JobCtx::new(self, job) else {
            return Vec::new();
        };
        let mut all: Vec<Assessment> = (0..self.engineers.len() as u32)
            .filter_map(|i| {
                score::evaluate(&self.engineers[i as usize], i, &ctx, &self.settings, None)
            })
            .collect();
        all.sort_by(score::rank);
        all.truncate(limit);
        all.iter()
            .map(|a| score::explain(a, &self.engineers[a.engineer as usize], &ctx, self))
            .collect()
    }

    /// The engineers passing the job's list filters (restricted territory; every required skill
    /// under `RequireAll`), when there are at most `direct_max` of them and a short filter list
    /// to find them from. `None`: walk the R-tree.
    fn short_list(&self, ctx: &JobCtx) -> Option<Vec<u32>> {
        let require_all = self.settings.skill_policy == SkillPolicy::RequireAll;
        let territory_len = (!ctx.restrict.is_empty()).then(|| {
            ctx.restrict
                .iter()
                .map(|&t| self.members[t as usize].len())
                .sum::<usize>()
        });
        let rarest_skill = ctx
            .required_ids()
            .filter(|_| require_all)
            .map(|id| id.map_or(&[][..], |id| &self.holders[id as usize][..]))
            .min_by_key(|h| h.len());
        let use_skill = match (territory_len, rarest_skill) {
            (Some(n), Some(h)) => h.len() < n,
            (Some(_), None) => false,
            (None, Some(_)) => true,
            (None, None) => return None,
        };
        let source_len = if use_skill {
            rarest_skill.map_or(0, <[u32]>::len)
        } else {
            territory_len.unwrap_or(0)
        };
        if source_len > self.direct_max.saturating_mul(SCAN_FACTOR) {
            return None;
        }
        let mut list: Vec<u32> = match rarest_skill {
            Some(h) if use_skill => h.to_vec(),
            _ => {
                let mut v: Vec<u32> = ctx
                    .restrict
                    .iter()
                    .flat_map(|&t| self.members[t as usize].iter().copied())
                    .collect();
                v.sort_unstable();
                v.dedup();
                v
            }
        };
        list.retain(|&i| {
            let e = &self.engineers[i as usize];
            (ctx.restrict.is_empty() || ctx.restrict.iter().any(|&t| e.in_territory(t)))
                && (!require_all
                    || ctx
                        .required_ids()
                        .all(|id| id.is_some_and(|id| e.has_skill(id))))
        });
        (list.len() <= self.direct_max).then_some(list)
    }

    fn consider(&self, engineer: u32, ctx: &JobCtx, top: &mut TopK) {
        #[cfg(test)]
        SCORED.with(|n| n.set(n.get() + 1));
        let e = &self.engineers[engineer as usize];
        if let Some(a) = score::evaluate(e, engineer, ctx, &self.settings, top.worst_score()) {
            top.push(a);
        }
    }

    fn finish(&self, top: TopK, ctx: &JobCtx) -> Vec<Suggestion> {
        top.into_sorted()
            .iter()
            .map(|a| score::explain(a, &self.engineers[a.engineer as usize], ctx, self))
            .collect()
    }

    pub(crate) fn skill_id(&self, normalized: &str) -> Option<u32> {
        self.skill_ids.get(normalized).copied()
    }

    pub(crate) fn min_open_orders(&self) -> u32 {
        self.min_open_orders
    }

    pub(crate) fn territory(&self, i: u32) -> &Territory {
        &self.territories[i as usize]
    }

    /// Territories containing `site`, as (restricted, preferred) indices, ascending.
    pub(crate) fn territories_at(&self, site: LatLon) -> (Vec<u32>, Vec<u32>) {
        let lon = sphere::wrap_lon(site.lon);
        // Polygons reach ±180 from either side: a site on the antimeridian is tested as both.
        let lons: &[f64] = if lon == -180.0 {
            &[-180.0, 180.0]
        } else {
            &[lon]
        };
        let mut hits: Vec<u32> = Vec::new();
        for &lon in lons {
            let point = Point::new(lon, site.lat);
            for b in self.territory_boxes.locate_all_at_point(&[lon, site.lat]) {
                if self.territories[b.data as usize].area.intersects(&point) {
                    hits.push(b.data);
                }
            }
        }
        hits.sort_unstable();
        hits.dedup();
        hits.into_iter()
            .partition(|&t| self.territories[t as usize].mode == TerritoryMode::Restrict)
    }

    #[cfg(test)]
    pub(crate) fn with_direct_max(mut self, n: usize) -> Self {
        self.direct_max = n;
        self
    }
}

#[cfg(test)]
thread_local! {
    /// Engineers scored by `suggest` on this thread, to test that the search stops early.
    pub(crate) static SCORED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn sanitize(mut s: Settings) -> Settings {
    let d = Weights::default();
    let w = &mut s.weights;
    for x in [
        &mut w.skill,
        &mut w.missing_skill,
        &mut w.availability,
        &mut w.load,
        &mut w.territory,
        &mut w.per_km,
        &mut w.urgent_distance_boost,
    ] {
        if !x.is_finite() || *x < 0.0 {
            *x = 0.0;
        }
    }
    if !w.load_half.is_finite() || w.load_half <= 0.0 {
        w.load_half = d.load_half;
    }
    s
}

/// The best `limit` assessments seen so far.
struct TopK {
    limit: usize,
    /// A max-heap on the ranking: its top is the worst kept.
    heap: BinaryHeap<Worst>,
}

/// Orders assessments worst-last by [`score::rank`], so the heap's maximum is the worst.
struct Worst(Assessment);

impl PartialEq for Worst {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Worst {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        score::rank(&self.0, &other.0)
    }
}

impl TopK {
    fn new(limit: usize) -> Self {
        TopK {
            limit,
            heap: BinaryHeap::with_capacity(limit.min(1024) + 1),
        }
    }

    fn push(&mut self, a: Assessment) {
        if self.heap.len() < self.limit {
            self.heap.push(Worst(a));
        } else if let Some(mut worst) = self.heap.peek_mut()
            && score::rank(&a, &worst.0).is_lt()
        {
            *worst = Worst(a);
        }
    }

    /// The score to beat, once `limit` engineers are kept.
    fn worst_score(&self) -> Option<f64> {
        if self.heap.len() < self.limit {
            return None;
        }
        self.heap.peek().map(|w| w.0.score)
    }

    fn into_sorted(self) -> Vec<Assessment> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|w| w.0)
            .collect()
    }
}
