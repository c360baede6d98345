//! Photo pipeline benchmark: a 12-megapixel camera JPEG to a stored, referenced blob.
//!
//! `cargo bench -p mobile-ffi --bench photo` runs the full size (4000 x 3000, 10 runs) and
//! prints a markdown table for docs/benchmarks.md; `cargo test -p mobile-ffi --benches` runs a
//! smoke size and judges nothing. Peak memory is measured by a counting global allocator: the
//! most bytes live at once during a run, above what was live before it.

use mobile_ffi::{ClientConfig, DeviceCredentials, FieldClient, PhotoSettings};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use sync_core::workorder::{Asset, Customer, NewWorkOrder, Priority, Site};
use sync_core::{DocId, EditContext, Hlc, OrgId, Role, Store, UserId, WorkOrderDoc};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers to the system allocator and only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size > layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed)
                    + (new_size - layout.size());
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Run `f` and return its result, its time in ms and the peak of extra live bytes.
fn measure<T>(f: impl FnOnce() -> T) -> (T, f64, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let t = Instant::now();
    let out = f();
    let ms = t.elapsed().as_secs_f64() * 1e3;
    (out, ms, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

/// A camera-like JPEG: smooth gradients, edges and sensor noise at quality 92, EXIF
/// orientation 6 (a phone held upright), about 3-5 MB at 12 MP like a real phone's.
fn camera_jpeg(w: u32, h: u32) -> Vec<u8> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let noise = (seed % 24) as i32 - 12;
        let edge = if (x / 97 + y / 61) % 5 == 0 { 60 } else { 0 };
        let c = |base: i32| (base + noise + edge).clamp(0, 255) as u8;
        image::Rgb([
            c((x * 200 / w) as i32 + 30),
            c((y * 180 / h) as i32 + 40),
            c(((x + y) * 120 / (w + h)) as i32 + 60),
        ])
    });
    let mut raw = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut raw, 92)
        .encode_image(&img)
        .unwrap();
    // EXIF APP1: big-endian TIFF, IFD0 with Orientation = 6.
    let tiff = [
        b'M', b'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0,
    ];
    let mut out = raw[..2].to_vec();
    out.extend([0xff, 0xe1]);
    out.extend(((tiff.len() + 8) as u16).to_be_bytes());
    out.extend(b"Exif\0\0");
    out.extend(tiff);
    out.extend(&raw[2..]);
    out
}

fn phone(dir: &std::path::Path) -> (std::sync::Arc<FieldClient>, String) {
    let db = dir.join("bench.db");
    let user = UserId::new();
    let store = Store::open(&db).unwrap();
    let ctx = EditContext {
        user: UserId::new(),
        role: Role::Dispatcher,
        device_time_ms: 1_795_510_800_000,
        hlc: Hlc::ZERO.tick(1_795_510_800_000, 1),
    };
    let new = NewWorkOrder {
        id: DocId::new(),
        org: OrgId::new(),
        number: "WO-000001".into(),
        customer: Customer {
            id: "C-1".into(),
            name: "Acme".into(),
        },
        site: Site {
            address: "1 Dock Road".into(),
            lat: 31.23,
            lon: 121.47,
        },
        asset: Asset::default(),
        problem: "Compressor trips".into(),
        priority: Priority::High,
        sla_due_ms: None,
    };
    let mut doc = WorkOrderDoc::create(store.actor(), &new, &ctx).unwrap();
    doc.assign(&ctx, Some(user)).unwrap();
    doc.set_status(&ctx, sync_core::Status::Assigned).unwrap();
    store.write(|tx| tx.persist(&mut doc, false)).unwrap();
    drop(store);
    let creds = DeviceCredentials {
        user_id: user.to_string(),
        org_id: new.org.to_string(),
        user_name: "Bench".into(),
        email: "bench@example.test".into(),
        device_id: "bench".into(),
        token: "lmd_bench".into(),
    };
    let client = FieldClient::open(
        ClientConfig::new(db.to_string_lossy(), "http://127.0.0.1:9"),
        Some(creds),
    )
    .unwrap();
    client.check_in(new.id.to_string(), None).unwrap();
    (client, new.id.to_string())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (w, h, runs) = if full {
        (4000, 3000, 10)
    } else {
        (800, 600, 2)
    };
    let input = camera_jpeg(w, h);
    let settings = PhotoSettings::default();
    let dir = tempfile::tempdir().unwrap();
    let (client, order) = phone(dir.path());

    let mut pipeline = Vec::new();
    let mut stored = Vec::new();
    let mut peak_pipeline = 0usize;
    let mut peak_stored = 0usize;
    let mut out_bytes = 0u64;
    for i in 0..runs {
        let (r, ms, peak) = measure(|| mobile_ffi::photos::process_photo(&input, &settings));
        let r = r.unwrap();
        pipeline.push(ms);
        peak_pipeline = peak_pipeline.max(peak);
        // A different photo each run (one pixel changed), so each one is really stored.
        let mut photo = input.clone();
        let last = photo.len() - 3;
        photo[last] ^= (i as u8) | 1;
        let (p, ms, peak) =
            measure(|| client.add_photo(order.clone(), photo, format!("photo {i}")));
        let p = p.unwrap();
        stored.push(ms);
        peak_stored = peak_stored.max(peak);
        out_bytes = p.bytes;
        assert_eq!((r.width, r.height), (p.width, p.height));
    }
    pipeline.sort_by(f64::total_cmp);
    stored.sort_by(f64::total_cmp);
    let mb = |b: usize| b as f64 / (1024.0 * 1024.0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "photo pipeline: {w} x {h} camera JPEG of {:.2} MB, {runs} runs; load average {}",
        input.len() as f64 / 1e6,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!();
    println!("| step | median | p95 | peak extra memory | target | result |");
    println!("|---|---:|---:|---:|---|---|");
    let judge = |ms: f64, mem: usize| {
        if !full {
            "smoke"
        } else if ms <= 400.0 && mb(mem) <= 150.0 {
            "pass"
        } else {
            "**FAIL**"
        }
    };
    println!(
        "| decode, orient, resize, encode (`photos::process_photo`) | {:.0} ms | {:.0} ms | {:.1} MB | ≤ 400 ms, ≤ 150 MB | {} |",
        percentile(&pipeline, 0.5),
        percentile(&pipeline, 0.95),
        mb(peak_pipeline),
        judge(percentile(&pipeline, 0.95), peak_pipeline)
    );
    println!(
        "| camera bytes to stored, referenced blob (`FieldClient::add_photo`) | {:.0} ms | {:.0} ms | {:.1} MB | ≤ 400 ms, ≤ 150 MB | {} |",
        percentile(&stored, 0.5),
        percentile(&stored, 0.95),
        mb(peak_stored),
        judge(percentile(&stored, 0.95), peak_stored)
    );
    println!();
    println!(
        "bytes: {} in, {} stored ({:.1} % saved)",
        input.len(),
        out_bytes,
        100.0 * (1.0 - out_bytes as f64 / input.len() as f64)
    );
}
