//! Test support: real inputs for the photo pipeline, a device store filled without a server,
//! the real server in-process, and a TCP proxy that can cut the network.
#![allow(dead_code)] // each test binary uses a different part

use mobile_ffi::{ClientConfig, DeviceCredentials, FieldClient};
use serde_json::{Value, json};
use std::io::{Cursor, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use sync_core::workorder::{Asset, Customer, NewWorkOrder, Priority, Site};
use sync_core::{DocId, Hlc, OrgId, Role, Store, UserId, WorkOrderDoc};

pub const PASSWORD: &str = "correct horse battery";

// ----- images -----

/// A photo-like RGB image: gradients and texture, so JPEG cannot compress it to nothing.
pub fn photo_rgb(w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        let n = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) >> 27;
        image::Rgb([
            ((x * 255 / w.max(1)) as u8).wrapping_add(n as u8),
            ((y * 255 / h.max(1)) as u8).wrapping_add(n as u8),
            (((x + y) % 256) as u8) ^ (n as u8),
        ])
    })
}

pub fn encode(img: image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), format).unwrap();
    out
}

pub fn jpeg(w: u32, h: u32) -> Vec<u8> {
    encode(
        image::DynamicImage::ImageRgb8(photo_rgb(w, h)),
        image::ImageFormat::Jpeg,
    )
}

/// An EXIF APP1 segment (big-endian TIFF) with an orientation tag and, optionally, a GPS
/// position, as a camera writes it.
pub fn exif_app1(orientation: u16, gps: Option<(f64, f64)>) -> Vec<u8> {
    let mut tiff: Vec<u8> = b"MM\0\x2a\0\0\0\x08".to_vec();
    let entries: u16 = if gps.is_some() { 2 } else { 1 };
    let ifd0_len = 2 + 12 * entries as usize + 4;
    let gps_ifd_offset = 8 + ifd0_len as u32;
    tiff.extend(entries.to_be_bytes());
    // 0x0112 Orientation, SHORT, 1 value, inline
    tiff.extend([0x01, 0x12, 0x00, 0x03, 0, 0, 0, 1]);
    tiff.extend(orientation.to_be_bytes());
    tiff.extend([0, 0]);
    if gps.is_some() {
        // 0x8825 GPS IFD pointer, LONG
        tiff.extend([0x88, 0x25, 0x00, 0x04, 0, 0, 0, 1]);
        tiff.extend(gps_ifd_offset.to_be_bytes());
    }
    tiff.extend([0, 0, 0, 0]); // no next IFD
    if let Some((lat, lon)) = gps {
        // GPS IFD: LatitudeRef, Latitude, LongitudeRef, Longitude
        let n = 4u16;
        let gps_len = 2 + 12 * n as u32 + 4;
        let data = gps_ifd_offset + gps_len;
        tiff.extend(n.to_be_bytes());
        let ascii = |tag: u16, c: u8| {
            let mut e = tag.to_be_bytes().to_vec();
            e.extend([0x00, 0x02, 0, 0, 0, 2, c, 0, 0, 0]);
            e
        };
        let rational = |tag: u16, at: u32| {
            let mut e = tag.to_be_bytes().to_vec();
            e.extend([0x00, 0x05, 0, 0, 0, 3]);
            e.extend(at.to_be_bytes());
            e
        };
        tiff.extend(ascii(1, if lat < 0.0 { b'S' } else { b'N' }));
        tiff.extend(rational(2, data));
        tiff.extend(ascii(3, if lon < 0.0 { b'W' } else { b'E' }));
        tiff.extend(rational(4, data + 24));
        tiff.extend([0, 0, 0, 0]);
        for v in [lat.abs(), lon.abs()] {
            let deg = v.trunc();
            let min = ((v - deg) * 60.0).trunc();
            let sec_x100 = (((v - deg) * 60.0 - min) * 60.0 * 100.0).round();
            for (num, den) in [(deg as u32, 1u32), (min as u32, 1), (sec_x100 as u32, 100)] {
                tiff.extend(num.to_be_bytes());
                tiff.extend(den.to_be_bytes());
            }
        }
    }
    let mut seg = vec![0xff, 0xe1];
    seg.extend(((tiff.len() + 8) as u16).to_be_bytes());
    seg.extend(b"Exif\0\0");
    seg.extend(tiff);
    seg
}

/// Insert an APP1 segment right after a JPEG's SOI marker.
pub fn with_exif(jpeg: &[u8], app1: &[u8]) -> Vec<u8> {
    assert_eq!(&jpeg[..2], &[0xff, 0xd8]);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A PNG whose IHDR announces `w` x `h` (valid CRC) over one pixel of data.
pub fn png_header_bomb(w: u32, h: u32) -> Vec<u8> {
    let mut png = encode(
        image::DynamicImage::ImageRgb8(image::RgbImage::new(1, 1)),
        image::ImageFormat::Png,
    );
    png[16..20].copy_from_slice(&w.to_be_bytes());
    png[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

/// A JPEG whose SOF0 header announces `w` x `h`.
pub fn jpeg_header_bomb(w: u16, h: u16) -> Vec<u8> {
    let mut j = jpeg(16, 16);
    let sof = j
        .windows(2)
        .position(|m| m == [0xff, 0xc0])
        .expect("baseline JPEG has SOF0");
    j[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    j[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    j
}

pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Deterministic noise.
pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A signature pad's PNG: dark strokes on a transparent background.
pub fn signature_png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbaImage::from_fn(w, h, |x, y| {
        let on_stroke =
            (y as i64 - (h as i64 / 2 + ((x as f64 / 9.0).sin() * 20.0) as i64)).abs() < 3;
        if on_stroke {
            image::Rgba([10, 20, 120, 255])
        } else {
            image::Rgba([0, 0, 0, 0])
        }
    });
    encode(
        image::DynamicImage::ImageRgba8(img),
        image::ImageFormat::Png,
    )
}

// ----- a device filled without a server -----

/// An engineer's phone whose store holds `n` orders assigned to them, made here (as a sync
/// would have brought them), and a client opened on it with a controllable clock.
pub struct OfflinePhone {
    pub client: Arc<FieldClient>,
    pub user: UserId,
    pub orders: Vec<DocId>,
    pub clock: Arc<AtomicI64>,
    pub dir: tempfile::TempDir,
}

/// 2026-11-24 09:00 UTC.
pub const NOW: i64 = 1_795_510_800_000;

pub fn order(n: usize, org: OrgId) -> NewWorkOrder {
    NewWorkOrder {
        id: DocId::new(),
        org,
        number: format!("WO-{n:06}"),
        customer: Customer {
            id: format!("C-{n}"),
            name: format!("Customer {n}"),
        },
        site: Site {
            address: format!("{n} Harbour Road"),
            lat: 31.20 + n as f64 * 0.01,
            lon: 121.40 + n as f64 * 0.01,
        },
        asset: Asset {
            id: format!("A-{n}"),
            model: "Chiller X200".into(),
            serial: format!("SN-{n:05}"),
        },
        problem: "Compressor trips after ten minutes".into(),
        priority: Priority::Normal,
        sla_due_ms: Some(NOW + n as i64 * 3_600_000),
    }
}

/// Fill a store at `path` with orders assigned to `user`; `edit` may change each new order
/// (as the office would have) before it is stored.
pub fn seed_store(
    path: &std::path::Path,
    user: UserId,
    orders: Vec<NewWorkOrder>,
    edit: impl Fn(usize, &mut WorkOrderDoc, &sync_core::EditContext),
) -> Vec<DocId> {
    let store = Store::open(path).unwrap();
    let office = sync_core::EditContext {
        user: UserId::new(),
        role: Role::Dispatcher,
        device_time_ms: NOW - 86_400_000,
        hlc: Hlc::ZERO.tick(NOW - 86_400_000, 7),
    };
    let mut ids = Vec::new();
    store
        .write(|tx| {
            for (i, new) in orders.iter().enumerate() {
                let mut doc = WorkOrderDoc::create(store.actor(), new, &office)?;
                doc.assign(&office, Some(user))?;
                doc.set_status(&office, sync_core::Status::Assigned)?;
                edit(i, &mut doc, &office);
                // As if it came from the server: not pending upload.
                tx.persist(&mut doc, false)?;
                ids.push(new.id);
            }
            Ok(())
        })
        .unwrap();
    ids
}

pub fn credentials(user: UserId) -> DeviceCredentials {
    DeviceCredentials {
        user_id: user.to_string(),
        org_id: OrgId::new().to_string(),
        user_name: "Erin Engineer".into(),
        email: "erin@example.test".into(),
        device_id: "phone-test".into(),
        token: "lmd_offline".into(),
    }
}

impl OfflinePhone {
    /// `n` orders, scheduled one per hour from 08:00 UTC today, every third one urgent.
    pub fn new(n: usize) -> OfflinePhone {
        Self::with_config(n, |_| {})
    }

    pub fn with_config(n: usize, cfg: impl FnOnce(&mut ClientConfig)) -> OfflinePhone {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("phone.db");
        let user = UserId::new();
        let org = OrgId::new();
        let orders = seed_store(
            &db,
            user,
            (0..n).map(|i| order(i, org)).collect(),
            |i, doc, ctx| {
                let start = NOW - 3_600_000 + i as i64 * 3_600_000;
                doc.schedule(ctx, start, start + 3_600_000).unwrap();
                if i % 3 == 0 {
                    doc.set_priority(ctx, Priority::Urgent).unwrap();
                }
            },
        );
        // Nothing listens there: the phone is offline.
        let mut config = ClientConfig::new(db.to_string_lossy(), "http://127.0.0.1:9");
        config.request_timeout_ms = 2_000;
        cfg(&mut config);
        let clock = Arc::new(AtomicI64::new(NOW));
        let c = clock.clone();
        let client = FieldClient::open_with_clock(config, Some(credentials(user)), move || {
            c.load(Ordering::SeqCst)
        })
        .unwrap();
        OfflinePhone {
            client,
            user,
            orders,
            clock,
            dir,
        }
    }

    pub fn advance(&self, ms: i64) {
        self.clock.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn id(&self, i: usize) -> String {
        self.orders[i].to_string()
    }
}

// ----- the real server, in-process -----

/// The `lastmile` server on a free port over a temporary SQLite database and data directory.
pub struct TestServer {
    pub url: String,
    pub state: lastmile_server::AppState,
    pub rt: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    pub fn start() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let url = format!("sqlite://{}", dir.path().join("lastmile.db").display());
        let data_dir = dir.path().to_owned();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (state, addr) = rt.block_on(async move {
            let db = lastmile_server::Db::connect(&url).await.unwrap();
            db.migrate().await.unwrap();
            let settings = lastmile_server::config::Settings {
                data_dir,
                ..Default::default()
            };
            let state = lastmile_server::AppState::new(db, settings).await.unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let s = state.clone();
            tokio::spawn(async move {
                let _ = lastmile_server::serve(listener, s, async {
                    let _ = rx.await;
                })
                .await;
            });
            (state, addr)
        });
        TestServer {
            url: format!("http://{addr}"),
            state,
            rt,
            dir,
            shutdown: Some(tx),
        }
    }

    /// An organisation with a dispatcher and `engineers` engineers; returns (dispatcher email,
    /// engineers as (id, email)).
    pub fn org(&self, engineers: usize) -> (String, Vec<(UserId, String)>) {
        use lastmile_server::accounts::{self, NewUser};
        let name = format!("Org {}", uuid::Uuid::new_v4().simple());
        let tag = name[4..12].to_owned();
        let db = self.state.db.clone();
        self.rt.block_on(async move {
            let org = accounts::create_org(&db, &name).await.unwrap();
            let hash = lastmile_server::auth::password::hash_password(PASSWORD).unwrap();
            let mut conn = db.pool().acquire().await.unwrap();
            let user = |email: String, role: Role| NewUser {
                org,
                email,
                name: "Test User".into(),
                role,
                password_hash: hash.clone(),
                customer_id: None,
                team: None,
                territory: None,
            };
            let dispatcher = format!("dispatch@{tag}.test");
            accounts::create_user(&mut conn, &user(dispatcher.clone(), Role::Dispatcher))
                .await
                .unwrap();
            let mut engs = Vec::new();
            for i in 0..engineers {
                let email = format!("eng{i}@{tag}.test");
                let id = accounts::create_user(&mut conn, &user(email.clone(), Role::Engineer))
                    .await
                    .unwrap();
                engs.push((id, email));
            }
            (dispatcher, engs)
        })
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A dispatcher over plain HTTP.
pub struct Office {
    url: String,
    token: String,
    http: reqwest::blocking::Client,
}

impl Office {
    pub fn login(url: &str, email: &str) -> Office {
        // reqwest is built without a default TLS provider (the library brings ring).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::blocking::Client::new();
        let (s, b) = call(
            &http,
            "POST",
            &format!("{url}/api/v1/auth/login"),
            None,
            Some(json!({"email": email, "password": PASSWORD})),
        );
        assert_eq!(s, 200, "{b}");
        Office {
            url: url.to_owned(),
            token: b["token"].as_str().unwrap().to_owned(),
            http,
        }
    }

    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        call(
            &self.http,
            method,
            &format!("{}{path}", self.url),
            Some(&self.token),
            body,
        )
    }

    pub fn get_bytes(&self, path: &str) -> (u16, Vec<u8>) {
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .unwrap();
        (resp.status().as_u16(), resp.bytes().unwrap().to_vec())
    }

    /// A customer and an order at (lat, lon), assigned to `engineer` and scheduled now.
    pub fn order_for(&self, engineer: UserId, lat: f64, lon: f64) -> String {
        let (s, c) = self.call(
            "POST",
            "/api/v1/customers",
            Some(json!({"name": "Acme Cold Storage"})),
        );
        assert_eq!(s, 201, "{c}");
        let (s, o) = self.call(
            "POST",
            "/api/v1/work-orders",
            Some(json!({
                "customer_id": c["id"],
                "site": {"address": "1 Dock Road", "lat": lat, "lon": lon},
                "asset": {"id": "A-1", "model": "Chiller X200", "serial": "SN-0001"},
                "problem": "Compressor trips after ten minutes",
                "priority": "high",
            })),
        );
        assert_eq!(s, 201, "{o}");
        let id = o["id"].as_str().unwrap().to_owned();
        let (s, b) = self.call(
            "POST",
            &format!("/api/v1/work-orders/{id}/assign"),
            Some(json!({"engineer_id": engineer.to_string()})),
        );
        assert_eq!(s, 200, "{b}");
        id
    }

    pub fn document(&self, id: &str) -> Value {
        let (s, b) = self.call("GET", &format!("/api/v1/work-orders/{id}/document"), None);
        assert_eq!(s, 200, "{b}");
        b
    }
}

pub fn call(
    http: &reqwest::blocking::Client,
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method.parse().unwrap(), url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

// ----- a proxy that can cut the network -----

const PASS: u8 = 0;
const DOWN: u8 = 1;
const CUT_AFTER: u8 = 2;

/// A TCP proxy in front of the server. `down()` refuses connections (no signal); `cut_after(n)`
/// passes `n` more request bytes and then cuts every connection and goes down (signal lost in
/// the middle of an upload).
pub struct Proxy {
    pub url: String,
    mode: Arc<AtomicU8>,
    budget: Arc<AtomicU64>,
    /// Request bytes forwarded so far.
    pub forwarded: Arc<AtomicU64>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    pub fn start(upstream: &str) -> Proxy {
        let upstream: SocketAddr = upstream.trim_start_matches("http://").parse().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mode = Arc::new(AtomicU8::new(PASS));
        let budget = Arc::new(AtomicU64::new(0));
        let forwarded = Arc::new(AtomicU64::new(0));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (m, b, f, c) = (
            mode.clone(),
            budget.clone(),
            forwarded.clone(),
            conns.clone(),
        );
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                if m.load(Ordering::SeqCst) == DOWN {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                c.lock()
                    .unwrap()
                    .extend([client.try_clone().unwrap(), server.try_clone().unwrap()]);
                let (m2, b2, f2, c2) = (m.clone(), b.clone(), f.clone(), c.clone());
                let (cr, sw) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pipe_up(cr, sw, m2, b2, f2, c2));
                std::thread::spawn(move || pipe(server, client));
            }
        });
        Proxy {
            url,
            mode,
            budget,
            forwarded,
            conns,
        }
    }

    pub fn up(&self) {
        self.mode.store(PASS, Ordering::SeqCst);
    }

    pub fn down(&self) {
        self.mode.store(DOWN, Ordering::SeqCst);
        for s in self.conns.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    pub fn cut_after(&self, bytes: u64) {
        self.budget.store(bytes, Ordering::SeqCst);
        self.mode.store(CUT_AFTER, Ordering::SeqCst);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Client -> server, counting, and cutting everything once a budget runs out.
fn pipe_up(
    mut from: TcpStream,
    mut to: TcpStream,
    mode: Arc<AtomicU8>,
    budget: Arc<AtomicU64>,
    forwarded: Arc<AtomicU64>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
) {
    let mut buf = [0u8; 4 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut n = n;
        if mode.load(Ordering::SeqCst) == CUT_AFTER {
            let left = budget.load(Ordering::SeqCst);
            if (n as u64) >= left {
                n = left as usize;
                let _ = to.write_all(&buf[..n]);
                forwarded.fetch_add(n as u64, Ordering::SeqCst);
                mode.store(DOWN, Ordering::SeqCst);
                for s in conns.lock().unwrap().drain(..) {
                    let _ = s.shutdown(Shutdown::Both);
                }
                break;
            }
            budget.fetch_sub(n as u64, Ordering::SeqCst);
        }
        if mode.load(Ordering::SeqCst) == DOWN || to.write_all(&buf[..n]).is_err() {
            break;
        }
        forwarded.fetch_add(n as u64, Ordering::SeqCst);
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// Wait for `f` to hold, up to `secs`.
pub fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}
