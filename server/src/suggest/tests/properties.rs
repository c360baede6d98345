//! Property tests: `suggest` equals `suggest_linear` over random engineers, territories and
//! jobs; the chord bound never exceeds the Haversine distance.

use super::*;
use proptest::prelude::*;

const SKILLS: [&str; 5] = ["hvac", "Electrical", " plumbing", "elevator", "it"];

fn position(center: (f64, f64)) -> impl Strategy<Value = LatLon> {
    // A 0.1° grid around the centre (ties in distance are common), latitudes clamped.
    (-15i32..=15, -15i32..=15).prop_map(move |(a, b)| {
        LatLon::new(
            (center.0 + f64::from(a) * 0.1).clamp(-90.0, 90.0),
            center.1 + f64::from(b) * 0.1,
        )
    })
}

fn center() -> impl Strategy<Value = (f64, f64)> {
    prop_oneof![
        (18.0..53.0, 73.0..135.0), // China
        Just((0.0, 179.9)),        // the antimeridian
        Just((89.5, 0.0)),         // the north pole
        (-90.0..=90.0, -180.0..180.0),
    ]
}

fn shifts() -> impl Strategy<Value = Vec<Shift>> {
    prop_oneof![
        Just(Vec::new()),
        Just(office_hours()),
        prop::collection::vec(
            (0u8..8, 0u16..1442, 0u16..1442).prop_map(|(d, s, e)| Shift::new(d, s, e)),
            0..4
        ),
    ]
}

fn engineer(
    n: u128,
    center: (f64, f64),
    territories: usize,
) -> impl Strategy<Value = EngineerProfile> {
    (
        prop::option::weighted(0.85, position(center)),
        prop::option::of((position(center), -6 * HOUR..HOUR)),
        prop::sample::subsequence(SKILLS.to_vec(), 0..=SKILLS.len()),
        shifts(),
        0u32..6,
        prop::collection::vec((-48i64..48, 0i64..16), 0..3),
        prop::sample::subsequence(
            (0..territories as u128).collect::<Vec<_>>(),
            0..=territories,
        ),
        0u128..3,
    )
        .prop_map(
            move |(home, last, skills, working_hours, open_orders, booked, terr, dup)| {
                EngineerProfile {
                    // Some ids repeat: the ranking must still be a total order.
                    id: uid(if dup == 0 { 0 } else { n }),
                    name: format!("e{n}"),
                    skills: skills.iter().map(|s| s.to_string()).collect(),
                    home,
                    last_known: last.map(|(pos, age)| LastKnown {
                        pos,
                        at_ms: MONDAY + 10 * HOUR + age,
                    }),
                    working_hours,
                    open_orders,
                    booked: booked
                        .into_iter()
                        .map(|(s, l)| {
                            let start = MONDAY + s * 30 * MINUTE_MS;
                            TimeWindow::new(start, start + l * 15 * MINUTE_MS)
                        })
                        .collect(),
                    territories: terr.into_iter().map(|t| tid(t + 100)).collect(),
                }
            },
        )
}

fn territories(center: (f64, f64)) -> impl Strategy<Value = Vec<Territory>> {
    // Squares of 0.1 to 3 degrees, most of them over the centre, so sites often lie in two.
    prop::collection::vec(
        (-20i32..5, -20i32..5, 1i32..31, 1i32..31, any::<bool>()),
        0..5,
    )
    .prop_map(move |v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (a, b, h, w, restrict))| {
                let lat0 = center.0 + f64::from(a) * 0.1;
                let lon0 = sphere::wrap_lon(center.1 + f64::from(b) * 0.1);
                Territory {
                    id: tid(i as u128 + 100),
                    name: format!("t{i}"),
                    area: square(
                        lat0,
                        lon0,
                        lat0 + f64::from(h) * 0.1,
                        lon0 + f64::from(w) * 0.1,
                    ),
                    mode: if restrict {
                        TerritoryMode::Restrict
                    } else {
                        TerritoryMode::Prefer
                    },
                }
            })
            .collect()
    })
}

fn job_near(center: (f64, f64)) -> impl Strategy<Value = Job> {
    (
        position(center),
        prop::sample::subsequence(vec!["HVAC", "electrical", "plumbing", "welding"], 0..=2),
        prop::option::of((-24i64..72, -2i64..12)),
        prop::option::of(-120i64..600),
        prop::sample::select(vec![
            Priority::Low,
            Priority::Normal,
            Priority::High,
            Priority::Urgent,
        ]),
        0i64..(7 * 24),
    )
        .prop_map(|(site, skills, window, sla, priority, hour)| {
            let now_ms = MONDAY + hour * HOUR;
            Job {
                site,
                required_skills: skills.iter().map(|s| s.to_string()).collect(),
                window: window.map(|(s, l)| {
                    TimeWindow::new(now_ms + s * HOUR, now_ms + s * HOUR + l * 30 * MINUTE_MS)
                }),
                sla_due_ms: sla.map(|m| now_ms + m * MINUTE_MS),
                priority,
                now_ms,
            }
        })
}

fn settings() -> impl Strategy<Value = Settings> {
    (
        -48i32..=56,
        prop::sample::select(vec![SkillPolicy::RequireAll, SkillPolicy::AllowPartial]),
        prop::sample::select(vec![0.0, 0.05, 0.2, 1.0]),
        0i64..4,
    )
        .prop_map(
            |(quarter_hours, skill_policy, per_km, max_age_hours)| Settings {
                utc_offset_minutes: quarter_hours * 15,
                skill_policy,
                position_max_age_ms: max_age_hours * HOUR,
                weights: Weights {
                    per_km,
                    ..Weights::default()
                },
                ..Settings::default()
            },
        )
}

fn scenario() -> impl Strategy<Value = (Vec<EngineerProfile>, Vec<Territory>, Vec<Job>, Settings)> {
    center().prop_flat_map(|c| {
        territories(c).prop_flat_map(move |ts| {
            let n = ts.len();
            let engineers = (0usize..40).prop_flat_map(move |k| {
                (0..k as u128)
                    .map(|i| engineer(i + 1, c, n))
                    .collect::<Vec<_>>()
            });
            // Exact copies under other ids: ties in score and distance, broken by id.
            let engineers = (
                engineers,
                prop::collection::vec(any::<prop::sample::Index>(), 0..8),
            )
                .prop_map(|(mut v, copies)| {
                    if !v.is_empty() {
                        for (i, pick) in copies.iter().enumerate() {
                            let mut e = v[pick.index(v.len())].clone();
                            e.id = uid(1000 - i as u128);
                            v.push(e);
                        }
                    }
                    v
                });
            (
                engineers,
                Just(ts),
                prop::collection::vec(job_near(c), 1..6),
                settings(),
            )
        })
    })
}

proptest! {
    // Cheap cases (about 0.5 ms each): run many.
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn suggest_equals_the_linear_scan(
        (engineers, territories, jobs, settings) in scenario(),
        limit in 0usize..12,
        direct in prop::sample::select(vec![0usize, 3, 256]),
    ) {
        let index = Index::build(engineers, territories)
            .with_settings(settings)
            .with_direct_max(direct);
        for job in &jobs {
            let fast = index.suggest(job, limit);
            let linear = index.suggest_linear(job, limit);
            prop_assert_eq!(&fast, &linear);
            prop_assert!(fast.len() <= limit);
            prop_assert!(fast.iter().all(|s| s.score.is_finite() && s.distance_km >= 0.0));
            prop_assert!(fast.windows(2).all(|w| w[0].score >= w[1].score));
        }
    }

    #[test]
    fn the_chord_bound_never_exceeds_the_haversine(
        a in (-90.0..=90.0, -180.0..180.0),
        b in prop_oneof![
            (-90.0..=90.0, -180.0..180.0),
            Just((0.0, 0.0)),
        ],
        antipodal in any::<bool>(),
    ) {
        let a = LatLon::new(a.0, a.1);
        let b = if antipodal { LatLon::new(-a.lat, a.lon + 180.0 - b.1 * 1e-9) } else { LatLon::new(b.0, b.1) };
        let (va, vb) = (sphere::unit_vector(a), sphere::unit_vector(b));
        let chord2: f64 = va.iter().zip(vb).map(|(x, y)| (x - y) * (x - y)).sum();
        let d = sphere::distance_km(a, b);
        prop_assert!(d.is_finite());
        prop_assert!(sphere::min_distance_km(chord2) <= d, "{} > {}", sphere::min_distance_km(chord2), d);
        prop_assert!(d - sphere::min_distance_km(chord2) < 0.02);
    }
}
