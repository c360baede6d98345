//! Dispatch suggestion benchmark: 10,000 engineers spread over China, 1,000 random jobs.
//!
//! `cargo bench -p server --bench suggest` runs the full size and prints a markdown table
//! (copied into `docs/benchmarks.md`). Under `cargo test --benches` (no `--bench` argument) it
//! runs a smoke size, so CI only checks that it works.
//!
//! Measured: the time of one query, `Index::suggest` (R-tree, nearest first, early stop) against
//! `Index::suggest_linear` (scores everyone), both asking for the top 10. Every answer of the
//! one is checked equal to the other's. Each job is timed `ROUNDS` times; percentiles are over
//! all timings.

use lastmile_server::suggest::{
    EngineerProfile, Index, Job, LastKnown, LatLon, Settings, Shift, Territory, TerritoryId,
    TerritoryMode, TimeWindow,
};
use std::hint::black_box;
use std::time::{Duration, Instant};
use sync_core::UserId;
use sync_core::workorder::Priority;

struct Size {
    engineers: usize,
    jobs: usize,
    rounds: usize,
}

const FULL: Size = Size {
    engineers: 10_000,
    jobs: 1_000,
    rounds: 3,
};
const SMOKE: Size = Size {
    engineers: 300,
    jobs: 30,
    rounds: 1,
};

const LIMIT: usize = 10;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
/// Tuesday 2026-11-24 10:00 in China (02:00 UTC).
const NOW: i64 = 1_795_478_400_000 + 2 * HOUR;

/// China's bounding box.
const LAT: (f64, f64) = (18.0, 53.5);
const LON: (f64, f64) = (73.5, 134.8);

/// Cities engineers and jobs cluster around: (name, lat, lon, weight).
const CITIES: [(&str, f64, f64, u32); 24] = [
    ("Shanghai", 31.23, 121.47, 12),
    ("Beijing", 39.90, 116.41, 11),
    ("Guangzhou", 23.13, 113.26, 9),
    ("Shenzhen", 22.54, 114.06, 9),
    ("Chengdu", 30.57, 104.07, 7),
    ("Chongqing", 29.56, 106.55, 7),
    ("Tianjin", 39.34, 117.36, 6),
    ("Wuhan", 30.59, 114.31, 6),
    ("Hangzhou", 30.27, 120.16, 6),
    ("Nanjing", 32.06, 118.80, 5),
    ("Xi'an", 34.34, 108.94, 5),
    ("Shenyang", 41.81, 123.43, 4),
    ("Harbin", 45.80, 126.53, 4),
    ("Zhengzhou", 34.75, 113.63, 4),
    ("Changsha", 28.23, 112.94, 4),
    ("Qingdao", 36.07, 120.38, 4),
    ("Kunming", 24.88, 102.83, 3),
    ("Xiamen", 24.48, 118.09, 3),
    ("Dalian", 38.91, 121.61, 3),
    ("Jinan", 36.65, 117.12, 3),
    ("Urumqi", 43.83, 87.62, 2),
    ("Lanzhou", 36.06, 103.83, 2),
    ("Hohhot", 40.84, 111.75, 2),
    ("Lhasa", 29.65, 91.11, 1),
];

/// Skills with the share of engineers who have them: common trades first, specialists last.
const SKILLS: [(&str, f64); 12] = [
    ("electrical", 0.50),
    ("hvac", 0.45),
    ("plumbing", 0.30),
    ("refrigeration", 0.25),
    ("it", 0.20),
    ("generator", 0.15),
    ("fire-safety", 0.12),
    ("ups", 0.10),
    ("forklift", 0.10),
    ("elevator", 0.08),
    ("solar", 0.05),
    ("medical-imaging", 0.03),
];

/// xorshift64*: reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() >> 33) as usize % n
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Roughly normal, mean 0, standard deviation 1 (sum of 4 uniforms).
    fn gauss(&mut self) -> f64 {
        ((0..4).map(|_| self.unit()).sum::<f64>() - 2.0) * 3f64.sqrt()
    }

    fn uuid(&mut self) -> uuid::Uuid {
        uuid::Uuid::from_u64_pair(self.next(), self.next())
    }
}

/// A place: near a city (weighted by size, spread `sigma` degrees) or, with `p_rural`,
/// anywhere in the box.
fn place(rng: &mut Rng, sigma: f64, p_rural: f64) -> LatLon {
    if rng.chance(p_rural) {
        return LatLon::new(rng.range(LAT.0, LAT.1), rng.range(LON.0, LON.1));
    }
    let total: u32 = CITIES.iter().map(|c| c.3).sum();
    let mut pick = rng.below(total as usize) as u32;
    let (_, lat, lon, _) = CITIES
        .iter()
        .find(|c| {
            if pick < c.3 {
                true
            } else {
                pick -= c.3;
                false
            }
        })
        .copied()
        .unwrap_or(CITIES[0]);
    LatLon::new(
        (lat + rng.gauss() * sigma).clamp(LAT.0, LAT.1),
        (lon + rng.gauss() * sigma).clamp(LON.0, LON.1),
    )
}

fn square(c: LatLon, half: f64) -> geo::MultiPolygon<f64> {
    let (s, n, w, e) = (c.lat - half, c.lat + half, c.lon - half, c.lon + half);
    let ring = vec![(w, s), (e, s), (e, n), (w, n), (w, s)];
    geo::MultiPolygon(vec![geo::Polygon::new(geo::LineString::from(ring), vec![])])
}

/// A preferred territory of about 400 km around each of the first 12 cities, and restricted
/// ones (about 110 km) around Shanghai and Beijing.
fn territories() -> Vec<Territory> {
    let mut v: Vec<Territory> = CITIES[..12]
        .iter()
        .map(|&(name, lat, lon, _)| Territory {
            id: TerritoryId::new(),
            name: format!("{name} region"),
            area: square(LatLon::new(lat, lon), 2.0),
            mode: TerritoryMode::Prefer,
        })
        .collect();
    for &(name, lat, lon, _) in &CITIES[..2] {
        v.push(Territory {
            id: TerritoryId::new(),
            name: format!("{name} metro"),
            area: square(LatLon::new(lat, lon), 0.5),
            mode: TerritoryMode::Restrict,
        });
    }
    v
}

fn inside(t: &Territory, p: LatLon) -> bool {
    use geo::Intersects;
    t.area.intersects(&geo::Point::new(p.lon, p.lat))
}

fn engineer(rng: &mut Rng, n: usize, territories: &[Territory]) -> EngineerProfile {
    let home = place(rng, 0.6, 0.1);
    let mut skills: Vec<String> = SKILLS
        .iter()
        .filter(|(_, p)| rng.chance(*p))
        .map(|(s, _)| s.to_string())
        .collect();
    if skills.is_empty() {
        skills.push(SKILLS[rng.below(4)].0.to_string());
    }
    let working_hours = match rng.below(20) {
        0..=13 => (0..5).map(|d| Shift::new(d, 8 * 60, 17 * 60)).collect(),
        14..=16 => (0..6).map(|d| Shift::new(d, 9 * 60, 18 * 60)).collect(),
        17..=18 => [6, 0, 1, 2, 3]
            .map(|d| Shift::new(d, 22 * 60, 6 * 60))
            .to_vec(),
        _ => Vec::new(),
    };
    let last_known = match rng.below(10) {
        0..=5 => Some(LastKnown {
            pos: LatLon::new(home.lat + rng.gauss() * 0.2, home.lon + rng.gauss() * 0.2),
            at_ms: NOW - (rng.unit() * 2.0 * HOUR as f64) as i64,
        }),
        6..=7 => Some(LastKnown {
            pos: LatLon::new(home.lat + rng.gauss() * 0.2, home.lon + rng.gauss() * 0.2),
            at_ms: NOW - (rng.range(3.0, 72.0) * HOUR as f64) as i64,
        }),
        _ => None,
    };
    // Visits booked over the next three working days, one to three hours each.
    let booked = (0..rng.below(7))
        .map(|_| {
            let day = rng.below(3) as i64;
            let start = NOW - 2 * HOUR + day * 24 * HOUR + rng.below(9 * 4) as i64 * 15 * MINUTE;
            TimeWindow::new(start, start + (1 + rng.below(3) as i64) * HOUR)
        })
        .collect();
    let territories = territories
        .iter()
        .filter(|t| inside(t, home) && rng.chance(0.9))
        .map(|t| t.id)
        .collect();
    EngineerProfile {
        id: UserId(rng.uuid()),
        name: format!("engineer {n}"),
        skills,
        home: Some(home),
        last_known,
        working_hours,
        open_orders: [0, 0, 1, 1, 2, 2, 3, 4, 5, 8][rng.below(10)],
        booked,
        territories,
    }
}

fn job(rng: &mut Rng) -> Job {
    // Most jobs need one common skill; some two; some a specialist's.
    let pick = |rng: &mut Rng, top: usize| SKILLS[rng.below(top)].0.to_string();
    let required_skills = match rng.below(20) {
        0..=1 => Vec::new(),
        2..=12 => vec![pick(rng, 6)],
        13..=17 => vec![pick(rng, 6), pick(rng, 9)],
        _ => vec![pick(rng, 12)],
    };
    let window = rng.chance(0.5).then(|| {
        let start = NOW + rng.below(72) as i64 * HOUR;
        TimeWindow::new(start, start + 2 * HOUR)
    });
    let sla_due_ms = rng
        .chance(0.4)
        .then(|| NOW + (rng.range(-1.0, 24.0) * HOUR as f64) as i64);
    let priority = match rng.below(20) {
        0..=2 => Priority::Low,
        3..=13 => Priority::Normal,
        14..=17 => Priority::High,
        _ => Priority::Urgent,
    };
    Job {
        site: place(rng, 0.5, 0.1),
        required_skills,
        window,
        sla_due_ms,
        priority,
        now_ms: NOW,
    }
}

/// Picks the jobs of one row of the table.
type JobFilter<'a> = dyn Fn(&Job) -> bool + 'a;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn micros(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

/// The machine's load when the run started (Linux): CPU figures move with it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

fn main() {
    let load = load_average();
    let full = std::env::args().any(|a| a == "--bench");
    let size = if full { FULL } else { SMOKE };
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);

    let territories = territories();
    let restricted: Vec<Territory> = territories
        .iter()
        .filter(|t| t.mode == TerritoryMode::Restrict)
        .cloned()
        .collect();
    let engineers: Vec<EngineerProfile> = (0..size.engineers)
        .map(|n| engineer(&mut rng, n, &territories))
        .collect();
    let jobs: Vec<Job> = (0..size.jobs).map(|_| job(&mut rng)).collect();

    let started = Instant::now();
    let index = Index::build(engineers, territories).with_settings(Settings {
        utc_offset_minutes: 480,
        ..Settings::default()
    });
    let build = started.elapsed();

    // Same answers, and a warm-up for both.
    let mut found = 0;
    for job in &jobs {
        let fast = index.suggest(job, LIMIT);
        assert_eq!(
            fast,
            index.suggest_linear(job, LIMIT),
            "suggest != suggest_linear"
        );
        found += fast.len();
    }

    // Timings per job: [round] for the R-tree and the linear scan.
    let mut fast = vec![Vec::with_capacity(size.rounds); size.jobs];
    let mut linear = vec![Vec::with_capacity(size.rounds); size.jobs];
    for _ in 0..size.rounds {
        for (i, job) in jobs.iter().enumerate() {
            let t = Instant::now();
            black_box(index.suggest(black_box(job), LIMIT));
            fast[i].push(t.elapsed());
            let t = Instant::now();
            black_box(index.suggest_linear(black_box(job), LIMIT));
            linear[i].push(t.elapsed());
        }
    }

    println!(
        "{} engineers, {} jobs x {} rounds, top {LIMIT}; index built in {:.1} ms; \
         {:.1} suggestions per job on average; every answer equal to the linear scan's; \
         load average at start {load}.\n",
        size.engineers,
        size.jobs,
        size.rounds,
        build.as_secs_f64() * 1e3,
        found as f64 / size.jobs as f64,
    );
    println!(
        "| jobs | n | `suggest` p50 | `suggest_linear` p50 | ratio | `suggest` p99 | \
         `suggest_linear` p99 | ratio |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let common = |s: &String| SKILLS[..6].iter().any(|(k, _)| k == s);
    let groups: [(&str, &JobFilter<'_>); 6] = [
        ("all", &|_| true),
        ("no skill", &|j| j.required_skills.is_empty()),
        ("common skills only", &|j| {
            !j.required_skills.is_empty() && j.required_skills.iter().all(common)
        }),
        ("a specialist skill", &|j| {
            !j.required_skills.iter().all(common)
        }),
        ("urgent (priority or SLA < 8 h)", &|j| {
            j.priority == Priority::Urgent || j.sla_due_ms.is_some_and(|d| d < NOW + 8 * HOUR)
        }),
        ("site in a restricted territory", &|j| {
            restricted.iter().any(|t| inside(t, j.site))
        }),
    ];
    for (label, pick) in groups {
        let chosen: Vec<usize> = (0..size.jobs).filter(|&i| pick(&jobs[i])).collect();
        if chosen.is_empty() {
            continue;
        }
        let mut a: Vec<Duration> = chosen
            .iter()
            .flat_map(|&i| fast[i].iter().copied())
            .collect();
        let mut b: Vec<Duration> = chosen
            .iter()
            .flat_map(|&i| linear[i].iter().copied())
            .collect();
        a.sort_unstable();
        b.sort_unstable();
        let (a50, b50) = (percentile(&a, 0.50), percentile(&b, 0.50));
        let (a99, b99) = (percentile(&a, 0.99), percentile(&b, 0.99));
        println!(
            "| {label} | {} | {} | {} | {:.1}× | {} | {} | {:.1}× |",
            chosen.len(),
            micros(a50),
            micros(b50),
            b50.as_secs_f64() / a50.as_secs_f64(),
            micros(a99),
            micros(b99),
            b99.as_secs_f64() / a99.as_secs_f64(),
        );
    }
}
