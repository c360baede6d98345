use super::calendar::{self, MINUTE_MS};
use super::*;
use geo::{LineString, MultiPolygon, Polygon};

mod properties;

/// Monday 2026-11-23 00:00 UTC.
const MONDAY: i64 = 1_795_392_000_000;
const HOUR: i64 = 60 * MINUTE_MS;

fn uid(n: u128) -> UserId {
    UserId(uuid::Uuid::from_u128(n))
}

fn tid(n: u128) -> TerritoryId {
    TerritoryId(uuid::Uuid::from_u128(n))
}

/// An engineer at `(lat, lon)` with `skills`, idle, no working hours (always available).
fn eng(n: u128, lat: f64, lon: f64, skills: &[&str]) -> EngineerProfile {
    EngineerProfile {
        id: uid(n),
        name: format!("engineer {n}"),
        skills: skills.iter().map(|s| s.to_string()).collect(),
        home: Some(LatLon::new(lat, lon)),
        last_known: None,
        working_hours: Vec::new(),
        open_orders: 0,
        booked: Vec::new(),
        territories: Vec::new(),
    }
}

/// A normal job at `(lat, lon)` needing `skills`, Monday 10:00 UTC, no window.
fn job(lat: f64, lon: f64, skills: &[&str]) -> Job {
    Job {
        site: LatLon::new(lat, lon),
        required_skills: skills.iter().map(|s| s.to_string()).collect(),
        window: None,
        sla_due_ms: None,
        priority: Priority::Normal,
        now_ms: MONDAY + 10 * HOUR,
    }
}

/// Mon-Fri 08:00-17:00.
fn office_hours() -> Vec<Shift> {
    (0..5).map(|d| Shift::new(d, 8 * 60, 17 * 60)).collect()
}

fn square(lat0: f64, lon0: f64, lat1: f64, lon1: f64) -> MultiPolygon<f64> {
    let ring = vec![
        (lon0, lat0),
        (lon1, lat0),
        (lon1, lat1),
        (lon0, lat1),
        (lon0, lat0),
    ];
    MultiPolygon(vec![Polygon::new(LineString::from(ring), vec![])])
}

/// `suggest`, checked against `suggest_linear`.
fn run(index: &Index, job: &Job, limit: usize) -> Vec<Suggestion> {
    let fast = index.suggest(job, limit);
    assert_eq!(fast, index.suggest_linear(job, limit));
    fast
}

fn ids(s: &[Suggestion]) -> Vec<UserId> {
    s.iter().map(|s| s.engineer).collect()
}

fn reasons_of(s: &[Suggestion], n: u128) -> &[Reason] {
    &s.iter()
        .find(|s| s.engineer == uid(n))
        .expect("suggested")
        .reasons
}

// ----- skills -----

#[test]
fn engineers_missing_a_required_skill_are_not_suggested() {
    let index = Index::build(
        vec![
            eng(1, 31.0, 121.0, &["hvac"]),
            eng(2, 31.5, 121.0, &["hvac", "electrical"]),
        ],
        vec![],
    );
    let s = run(&index, &job(31.0, 121.0, &["hvac", "electrical"]), 10);
    assert_eq!(ids(&s), vec![uid(2)]);
    assert_eq!(
        s[0].reasons[0],
        Reason::SkillMatch {
            matched: 2,
            required: 2
        }
    );
}

#[test]
fn a_skill_nobody_has_gives_no_suggestion() {
    let index = Index::build(vec![eng(1, 31.0, 121.0, &["hvac"])], vec![]);
    assert!(run(&index, &job(31.0, 121.0, &["welding"]), 10).is_empty());
}

#[test]
fn skills_compare_trimmed_and_case_insensitively() {
    let index = Index::build(vec![eng(1, 31.0, 121.0, &[" HVAC "])], vec![]);
    let s = run(&index, &job(31.0, 121.0, &["hvac", "Hvac"]), 10);
    assert_eq!(
        s[0].reasons[0],
        Reason::SkillMatch {
            matched: 1,
            required: 1
        }
    );
}

#[test]
fn partial_policy_ranks_full_matches_first_and_names_missing_skills() {
    let index = Index::build(
        vec![
            eng(1, 31.0, 121.0, &["hvac"]), // next door, 2 of 3 missing
            eng(2, 33.0, 121.0, &["hvac", "plumbing"]), // 222 km away, 1 of 3 missing
            eng(3, 31.0, 121.0, &[]),       // next door, all 3 missing
        ],
        vec![],
    )
    .with_settings(Settings {
        skill_policy: SkillPolicy::AllowPartial,
        ..Settings::default()
    });
    let s = run(
        &index,
        &job(31.0, 121.0, &["hvac", "plumbing", "welding"]),
        10,
    );
    // Nobody has welding: under AllowPartial that still suggests the best partial matches.
    assert_eq!(ids(&s), vec![uid(2), uid(1), uid(3)]);
    assert_eq!(
        reasons_of(&s, 1)[..2],
        [
            Reason::SkillMatch {
                matched: 1,
                required: 3
            },
            Reason::MissingSkills {
                skills: vec!["plumbing".into(), "welding".into()]
            },
        ]
    );
}

// ----- distance and position -----

#[test]
fn nearer_engineers_rank_first_with_their_distance() {
    let index = Index::build(
        vec![
            eng(1, 39.9042, 116.4074, &[]), // Beijing
            eng(2, 31.3, 121.4737, &[]),    // near Shanghai
            eng(3, 31.2304, 121.4737, &[]), // Shanghai
        ],
        vec![],
    );
    let s = run(&index, &job(31.2304, 121.4737, &[]), 10);
    assert_eq!(ids(&s), vec![uid(3), uid(2), uid(1)]);
    assert_eq!(s[0].distance_km, 0.0);
    assert!(
        (s[2].distance_km - 1067.31).abs() < 0.01,
        "{}",
        s[2].distance_km
    );
    assert!(reasons_of(&s, 1).contains(&Reason::Distance {
        km: s[2].distance_km,
        from: PositionSource::Home
    }));
}

#[test]
fn a_fresh_last_known_position_counts_instead_of_home() {
    let now = MONDAY + 10 * HOUR;
    let mut fresh = eng(1, 35.0, 121.0, &[]);
    fresh.last_known = Some(LastKnown {
        pos: LatLon::new(31.01, 121.0),
        at_ms: now - HOUR,
    });
    let mut stale = eng(2, 31.02, 121.0, &[]);
    stale.last_known = Some(LastKnown {
        pos: LatLon::new(40.0, 121.0),
        at_ms: now - 5 * HOUR,
    });
    let mut nomad = eng(3, 0.0, 0.0, &[]);
    nomad.home = None;
    nomad.last_known = Some(LastKnown {
        pos: LatLon::new(31.03, 121.0),
        at_ms: now - 99 * HOUR,
    });
    let mut nowhere = eng(4, 0.0, 0.0, &[]);
    nowhere.home = None;
    let index = Index::build(vec![fresh, stale, nomad, nowhere], vec![]);
    let s = run(&index, &job(31.0, 121.0, &[]), 10);
    assert_eq!(
        ids(&s),
        vec![uid(1), uid(2), uid(3)],
        "never suggests one with no position"
    );
    let from = |n| match reasons_of(&s, n)[1] {
        Reason::Distance { from, .. } => from,
        ref r => panic!("{r:?}"),
    };
    assert_eq!(from(1), PositionSource::LastKnown);
    assert_eq!(from(2), PositionSource::Home);
    assert_eq!(from(3), PositionSource::StaleLastKnown);
}

#[test]
fn distance_is_right_across_the_antimeridian() {
    let index = Index::build(
        vec![
            eng(1, 0.0, 179.0, &[]),
            eng(2, 0.0, -179.95, &[]),
            eng(3, 0.0, 540.0 - 0.5, &[]),
        ],
        vec![],
    );
    let s = run(&index, &job(0.0, 179.95, &[]), 10);
    assert_eq!(ids(&s), vec![uid(2), uid(3), uid(1)]);
    assert!(
        (s[0].distance_km - 11.1195).abs() < 1e-3,
        "{}",
        s[0].distance_km
    );
    assert!(
        (s[1].distance_km - 0.45 * 111.195).abs() < 1e-2,
        "lon 539.5 is 179.5"
    );
}

#[test]
fn distance_is_right_at_the_poles_and_antipodes() {
    let index = Index::build(
        vec![
            eng(1, 90.0, 0.0, &[]),
            eng(2, 90.0, 137.0, &[]),
            eng(3, 89.0, -45.0, &[]),
            eng(4, -10.0, 180.0, &[]),
        ],
        vec![],
    );
    let s = run(&index, &job(90.0, -90.0, &[]), 10);
    assert_eq!(s.len(), 4);
    assert!(
        s[0].distance_km.abs() < 1e-9 && s[1].distance_km.abs() < 1e-9,
        "{s:?}"
    );
    assert_eq!(s[2].engineer, uid(3));
    assert!((s[2].distance_km - 111.195).abs() < 1e-2);
    // Antipodal: the haversine can round above 1 (asin NaN); the distance stays half the
    // circumference.
    let s = run(&index, &job(10.0, 0.0, &[]), 10);
    let anti = s.iter().find(|s| s.engineer == uid(4)).expect("suggested");
    assert!(
        (anti.distance_km - 20_015.1).abs() < 0.1,
        "{}",
        anti.distance_km
    );
    assert!(s.iter().all(|s| s.score.is_finite()));
}

#[test]
fn invalid_positions_are_ignored() {
    let mut bad_home = eng(1, 91.0, 0.0, &[]);
    bad_home.last_known = Some(LastKnown {
        pos: LatLon::new(f64::NAN, 0.0),
        at_ms: 0,
    });
    let index = Index::build(vec![bad_home, eng(2, 0.0, 0.0, &[])], vec![]);
    assert_eq!(ids(&run(&index, &job(0.0, 0.0, &[]), 10)), vec![uid(2)]);
    assert!(run(&index, &job(f64::INFINITY, 0.0, &[]), 10).is_empty());
    assert!(run(&index, &job(0.0, 0.0, &[]), 0).is_empty());
}

// ----- load -----

#[test]
fn fewer_open_orders_rank_higher() {
    let mut busy = eng(1, 31.0, 121.0, &[]);
    busy.open_orders = 6;
    let mut idle = eng(2, 31.0, 121.0, &[]);
    idle.open_orders = 1;
    let index = Index::build(vec![busy, idle], vec![]);
    let s = run(&index, &job(31.0, 121.0, &[]), 10);
    assert_eq!(ids(&s), vec![uid(2), uid(1)]);
    assert!(reasons_of(&s, 1).contains(&Reason::Load { open_orders: 6 }));
    // 15 * 3/(3+1) - 15 * 3/(3+6)
    assert!((s[0].score - s[1].score - (11.25 - 5.0)).abs() < 1e-9);
}

// ----- availability -----

fn availability_reasons(r: &[Reason]) -> Vec<Reason> {
    r.iter()
        .filter(|r| {
            matches!(
                r,
                Reason::Available | Reason::Busy { .. } | Reason::OffShift { .. }
            )
        })
        .cloned()
        .collect()
}

#[test]
fn availability_reasons_for_a_window() {
    let mut free = eng(1, 31.0, 121.0, &[]);
    free.working_hours = office_hours();
    let mut booked = eng(2, 31.0, 121.0, &[]);
    booked.working_hours = office_hours();
    // Booked 10:30-11:30 and 11:00-12:30 (overlapping): the job window 10:00-12:00 overlaps
    // 90 minutes of them.
    booked.booked = vec![
        TimeWindow::new(
            MONDAY + 10 * HOUR + 30 * MINUTE_MS,
            MONDAY + 11 * HOUR + 30 * MINUTE_MS,
        ),
        TimeWindow::new(MONDAY + 11 * HOUR, MONDAY + 12 * HOUR + 30 * MINUTE_MS),
    ];
    let mut late = eng(3, 31.0, 121.0, &[]);
    late.working_hours = (0..5).map(|d| Shift::new(d, 11 * 60, 20 * 60)).collect();
    let mut weekend = eng(4, 31.0, 121.0, &[]);
    weekend.working_hours = vec![Shift::new(5, 0, 1440), Shift::new(6, 0, 1440)];
    let unset = eng(5, 31.0, 121.0, &[]);
    let index = Index::build(vec![free, booked, late, weekend, unset], vec![]);

    let mut j = job(31.0, 121.0, &[]);
    j.window = Some(TimeWindow::new(MONDAY + 10 * HOUR, MONDAY + 12 * HOUR));
    let s = run(&index, &j, 10);
    assert_eq!(
        availability_reasons(reasons_of(&s, 1)),
        vec![Reason::Available]
    );
    assert_eq!(
        availability_reasons(reasons_of(&s, 2)),
        vec![Reason::Busy {
            overlap_minutes: 90
        }]
    );
    assert_eq!(
        availability_reasons(reasons_of(&s, 3)),
        vec![Reason::OffShift { minutes: 60 }]
    );
    assert_eq!(
        availability_reasons(reasons_of(&s, 4)),
        vec![Reason::OffShift { minutes: 120 }]
    );
    assert_eq!(
        availability_reasons(reasons_of(&s, 5)),
        vec![Reason::Available]
    );
    // Free share: 1, 1/4, 1/2, 0, 1 of 30 points.
    assert_eq!(ids(&s), vec![uid(1), uid(5), uid(3), uid(2), uid(4)]);
    assert!((s[0].score - s[4].score - 30.0).abs() < 1e-9);
}

#[test]
fn working_hours_are_read_in_the_organisations_time_zone() {
    let mut e = eng(1, 31.0, 121.0, &[]);
    e.working_hours = office_hours();
    let mut j = job(31.0, 121.0, &[]);
    // Monday 02:00-03:00 UTC is 10:00-11:00 in China (UTC+8).
    j.window = Some(TimeWindow::new(MONDAY + 2 * HOUR, MONDAY + 3 * HOUR));
    let utc = Index::build(vec![e.clone()], vec![]);
    let china = Index::build(vec![e], vec![]).with_settings(Settings {
        utc_offset_minutes: 480,
        ..Settings::default()
    });
    let off = run(&utc, &j, 1);
    assert_eq!(
        availability_reasons(&off[0].reasons),
        vec![Reason::OffShift { minutes: 60 }]
    );
    let on = run(&china, &j, 1);
    assert_eq!(
        availability_reasons(&on[0].reasons),
        vec![Reason::Available]
    );
}

#[test]
fn a_job_without_a_window_is_assessed_for_the_next_hour() {
    let mut e = eng(1, 31.0, 121.0, &[]);
    e.working_hours = office_hours();
    e.booked = vec![TimeWindow::new(
        MONDAY + 10 * HOUR + 45 * MINUTE_MS,
        MONDAY + 12 * HOUR,
    )];
    let index = Index::build(vec![e], vec![]);
    let s = run(&index, &job(31.0, 121.0, &[]), 1); // now = Monday 10:00
    assert_eq!(
        availability_reasons(&s[0].reasons),
        vec![Reason::Busy {
            overlap_minutes: 15
        }]
    );
}

#[test]
fn night_shifts_run_past_midnight() {
    // Sunday 22:00 - Monday 06:00.
    let shifts = calendar::valid_shifts(&[Shift::new(6, 22 * 60, 6 * 60)]);
    let a = calendar::availability((MONDAY + 5 * HOUR, MONDAY + 7 * HOUR), &shifts, &[], 0);
    assert_eq!((a.off_shift_ms, a.free_ms), (HOUR, HOUR));
    let a = calendar::availability((MONDAY - 3 * HOUR, MONDAY - HOUR), &shifts, &[], 0);
    assert_eq!((a.off_shift_ms, a.free_ms), (HOUR, HOUR));
}

#[test]
fn invalid_shifts_and_windows_are_tolerated() {
    assert!(
        calendar::valid_shifts(&[
            Shift::new(7, 0, 60),
            Shift::new(0, 0, 1441),
            Shift::new(0, 60, 60)
        ])
        .is_empty()
    );
    // An empty or inverted window is assessed as its first minute.
    assert_eq!(
        calendar::assessed_window(MONDAY, MONDAY - HOUR),
        (MONDAY, MONDAY + MINUTE_MS)
    );
    let far = calendar::assessed_window(i64::MIN, i64::MAX);
    assert!(far.0 < far.1);
    let a = calendar::availability(far, &office_hours(), &[(i64::MIN, i64::MAX)], 840);
    assert_eq!(a.free_ms, 0);
}

// ----- SLA and priority -----

#[test]
fn urgent_jobs_weigh_distance_more() {
    // 60 km nearer, but busy for the whole window; the farther one is free.
    let mut near = eng(1, 31.0, 121.0, &[]);
    near.booked = vec![TimeWindow::new(MONDAY, MONDAY + 24 * HOUR)];
    let far = eng(2, 31.54, 121.0, &[]);
    let index = Index::build(vec![near, far], vec![]);

    let normal = job(31.0, 121.0, &[]);
    assert_eq!(ids(&run(&index, &normal, 2)), vec![uid(2), uid(1)]);

    let urgent = Job {
        priority: Priority::Urgent,
        ..normal.clone()
    };
    assert_eq!(ids(&run(&index, &urgent, 2)), vec![uid(1), uid(2)]);

    let sla = Job {
        sla_due_ms: Some(normal.now_ms + 30 * MINUTE_MS),
        ..normal.clone()
    };
    let s = run(&index, &sla, 2);
    assert_eq!(ids(&s), vec![uid(1), uid(2)]);
    assert!(
        s[0].reasons
            .contains(&Reason::SlaUrgent { minutes_left: 30 })
    );

    let breached = Job {
        sla_due_ms: Some(normal.now_ms - 90 * MINUTE_MS),
        ..normal.clone()
    };
    assert!(
        run(&index, &breached, 1)[0]
            .reasons
            .contains(&Reason::SlaUrgent { minutes_left: -90 })
    );

    let relaxed = Job {
        sla_due_ms: Some(normal.now_ms + 9 * HOUR),
        ..normal
    };
    let s = run(&index, &relaxed, 2);
    assert_eq!(ids(&s), vec![uid(2), uid(1)]);
    assert!(
        !s[0]
            .reasons
            .iter()
            .any(|r| matches!(r, Reason::SlaUrgent { .. }))
    );
}

// ----- territories -----

fn territory(n: u128, name: &str, mode: TerritoryMode) -> Territory {
    Territory {
        id: tid(n),
        name: name.into(),
        area: square(30.0, 120.0, 32.0, 122.0),
        mode,
    }
}

#[test]
fn restricted_territories_exclude_engineers_not_assigned_to_them() {
    let mut member = eng(1, 35.0, 121.0, &[]);
    member.territories = vec![tid(10)];
    let outsider = eng(2, 31.0, 121.0, &[]);
    let territories = vec![territory(10, "Shanghai", TerritoryMode::Restrict)];
    for direct in [0, 256] {
        let index = Index::build(vec![member.clone(), outsider.clone()], territories.clone())
            .with_direct_max(direct);
        let s = run(&index, &job(31.0, 121.0, &[]), 10);
        assert_eq!(ids(&s), vec![uid(1)]);
        assert!(reasons_of(&s, 1).contains(&Reason::InTerritory {
            territory: tid(10),
            name: "Shanghai".into()
        }));
        // A site outside the territory: no restriction, nearest first.
        assert_eq!(
            ids(&run(&index, &job(34.0, 121.0, &[]), 10)),
            vec![uid(1), uid(2)]
        );
    }
}

#[test]
fn an_engineer_in_two_restricted_territories_is_suggested_once() {
    let mut both = eng(1, 31.0, 121.0, &[]);
    both.territories = vec![tid(10), tid(11)];
    let mut a = territory(10, "A", TerritoryMode::Restrict);
    a.area = square(30.0, 120.0, 31.5, 121.5);
    let b = territory(11, "B", TerritoryMode::Restrict);
    for direct in [0, 256] {
        let index =
            Index::build(vec![both.clone()], vec![a.clone(), b.clone()]).with_direct_max(direct);
        let s = run(&index, &job(31.0, 121.0, &[]), 10);
        assert_eq!(ids(&s), vec![uid(1)]);
        let in_territory: Vec<&Reason> = s[0]
            .reasons
            .iter()
            .filter(|r| matches!(r, Reason::InTerritory { .. }))
            .collect();
        assert_eq!(in_territory.len(), 2);
    }
}

#[test]
fn a_site_on_the_boundary_is_inside() {
    let index = Index::build(
        vec![eng(2, 31.0, 121.0, &[])],
        vec![territory(10, "Shanghai", TerritoryMode::Restrict)],
    );
    assert!(run(&index, &job(32.0, 121.0, &[]), 10).is_empty());
    assert_eq!(run(&index, &job(32.001, 121.0, &[]), 10).len(), 1);
}

#[test]
fn preferred_territories_give_a_bonus_and_say_so() {
    let mut member = eng(1, 31.0, 121.0, &[]);
    member.territories = vec![tid(10), tid(99)]; // an unknown id is ignored
    let outsider = eng(2, 31.0, 121.0, &[]);
    let index = Index::build(
        vec![outsider, member],
        vec![territory(10, "Shanghai", TerritoryMode::Prefer)],
    );
    let s = run(&index, &job(31.0, 121.0, &[]), 10);
    assert_eq!(ids(&s), vec![uid(1), uid(2)]);
    assert!((s[0].score - s[1].score - 10.0).abs() < 1e-9);
    let name = "Shanghai".to_string();
    assert!(reasons_of(&s, 1).contains(&Reason::InTerritory {
        territory: tid(10),
        name
    }));
    let name = "Shanghai".to_string();
    assert!(reasons_of(&s, 2).contains(&Reason::OutsideTerritory {
        territory: tid(10),
        name
    }));
}

#[test]
fn territories_across_the_antimeridian_are_two_polygons() {
    let mut fiji = square(-20.0, 177.0, -15.0, 180.0);
    fiji.0.extend(square(-20.0, -180.0, -15.0, -178.0).0);
    let t = Territory {
        id: tid(7),
        name: "Fiji".into(),
        area: fiji,
        mode: TerritoryMode::Restrict,
    };
    let mut member = eng(1, -18.0, 178.0, &[]);
    member.territories = vec![tid(7)];
    let index = Index::build(vec![member, eng(2, -18.0, -179.0, &[])], vec![t]);
    for lon in [-179.0, 179.0, 180.0, -180.0, 181.0] {
        assert_eq!(
            ids(&run(&index, &job(-18.0, lon, &[]), 10)),
            vec![uid(1)],
            "lon {lon}"
        );
    }
}

// ----- output -----

#[test]
fn reasons_are_tagged_json() {
    let r = vec![
        Reason::SkillMatch {
            matched: 1,
            required: 2,
        },
        Reason::MissingSkills {
            skills: vec!["hvac".into()],
        },
        Reason::Distance {
            km: 1.5,
            from: PositionSource::LastKnown,
        },
        Reason::Load { open_orders: 3 },
        Reason::Available,
        Reason::Busy { overlap_minutes: 5 },
        Reason::OffShift { minutes: 7 },
        Reason::SlaUrgent { minutes_left: -3 },
        Reason::InTerritory {
            territory: tid(1),
            name: "A".into(),
        },
        Reason::OutsideTerritory {
            territory: tid(2),
            name: "B".into(),
        },
    ];
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(
        json,
        serde_json::json!([
            {"kind": "skill_match", "matched": 1, "required": 2},
            {"kind": "missing_skills", "skills": ["hvac"]},
            {"kind": "distance", "km": 1.5, "from": "last_known"},
            {"kind": "load", "open_orders": 3},
            {"kind": "available"},
            {"kind": "busy", "overlap_minutes": 5},
            {"kind": "off_shift", "minutes": 7},
            {"kind": "sla_urgent", "minutes_left": -3},
            {"kind": "in_territory", "territory": "00000000-0000-0000-0000-000000000001", "name": "A"},
            {"kind": "outside_territory", "territory": "00000000-0000-0000-0000-000000000002", "name": "B"},
        ])
    );
    let back: Vec<Reason> = serde_json::from_value(json).unwrap();
    assert_eq!(back, r);
}

#[test]
fn ties_break_by_engineer_id() {
    let index = Index::build(
        vec![
            eng(3, 31.0, 121.0, &[]),
            eng(1, 31.0, 121.0, &[]),
            eng(2, 31.0, 121.0, &[]),
        ],
        vec![],
    );
    assert_eq!(
        ids(&run(&index, &job(31.0, 121.0, &[]), 2)),
        vec![uid(1), uid(2)]
    );
}

#[test]
fn the_search_stops_early_yet_agrees_with_the_linear_scan() {
    // A line of 2,000 engineers 1 km apart; the nearest few win and the rest are never scored.
    let engineers = (0..2000)
        .map(|i| eng(i, 30.0 + i as f64 * 0.009, 121.0, &[]))
        .collect();
    let index = Index::build(engineers, vec![]);
    index::SCORED.with(|n| n.set(0));
    let s = index.suggest(&job(30.0, 121.0, &[]), 5);
    let scored = index::SCORED.with(|n| n.get());
    assert!(scored < 100, "scored {scored} of 2000");
    assert_eq!(s, index.suggest_linear(&job(30.0, 121.0, &[]), 5));
    assert_eq!(ids(&s), (0..5).map(uid).collect::<Vec<_>>());
}

#[test]
fn the_index_can_be_shared_between_requests() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Index>();
}

#[test]
fn negative_or_nan_weights_count_as_zero() {
    let index = Index::build(
        vec![eng(1, 35.0, 121.0, &[]), eng(2, 31.0, 121.0, &[])],
        vec![],
    )
    .with_settings(Settings {
        weights: Weights {
            per_km: -1.0,
            load_half: f64::NAN,
            ..Weights::default()
        },
        ..Settings::default()
    });
    assert_eq!(index.settings().weights.per_km, 0.0);
    assert_eq!(index.settings().weights.load_half, 3.0);
    // Distance no longer counts: equal scores, the nearer first.
    let s = run(&index, &job(31.0, 121.0, &[]), 10);
    assert_eq!(ids(&s), vec![uid(2), uid(1)]);
    assert_eq!(s[0].score, s[1].score);
}
