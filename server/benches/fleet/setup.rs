//! The server under test: a database (an SQLite file in a temporary data directory, or a fresh
//! PostgreSQL database dropped at the end), the real `lastmile` binary as a child process,
//! its CPU and memory from `/proc`, and the fleet seeded into its database.
//!
//! Seeding: the organisation, the dispatcher and the first few engineers are made with
//! `lastmile admin`, and those engineers register their phones and get their orders through the
//! REST API, like in production. Thousands more through the API would take longer than the
//! benchmark (an argon2 hash per account, a transaction per order), so the rest are written with
//! the server library's own functions (`accounts::create_user`, `accounts::register_device`,
//! `WorkOrderDoc` + `docstore::save`), in batches, before the server starts.

use super::device::{Conn, PART_SKUS};
use hyper::Method;
use lastmile_server::Db;
use lastmile_server::accounts::{self, NewUser};
use lastmile_server::auth::password::{self, TokenKind};
use lastmile_server::docstore::{self, DocStore};
use lastmile_server::inventory::Actor;
use lastmile_server::inventory::catalog::{self, NewPart};
use lastmile_server::inventory::ledger::Writer;
use lastmile_server::inventory::locations;
use lastmile_server::inventory::operations::{self, AdjustLine, Adjustment};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use sync_core::workorder::{Asset, Customer, NewWorkOrder, Priority, Site};
use sync_core::{DocId, OrgId, Role, Status, UserId, WorkOrderDoc};

pub const PASSWORD: &str = "fleet-bench-password";
pub const ORG: &str = "Fleet Bench Ltd";
const DISPATCHER: &str = "dispatch@fleet.test";
/// Engineers made with `lastmile admin` whose phones and orders go through the REST API.
pub const REST_ENGINEERS: usize = 3;

/// The `lastmile` binary cargo built for this bench (release under `cargo bench`, debug under
/// `cargo test --benches`), or `LASTMILE_BIN`.
pub fn lastmile_bin() -> PathBuf {
    std::env::var_os("LASTMILE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_lastmile")))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Sqlite => "SQLite",
            Kind::Postgres => "PostgreSQL",
        }
    }
}

fn pg_admin_url() -> String {
    std::env::var("LASTMILE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn psql(sql: &str) {
    let out = Command::new("psql")
        .args([pg_admin_url().as_str(), "-v", "ON_ERROR_STOP=1", "-qc", sql])
        .output()
        .expect("psql must be installed");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The database of one run.
pub struct Backend {
    pub kind: Kind,
    pub data_dir: tempfile::TempDir,
    pub pg_name: Option<String>,
    pub url: String,
}

impl Backend {
    pub fn new(kind: Kind) -> Backend {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let (pg_name, url) = match kind {
            Kind::Sqlite => (
                None,
                lastmile_server::config::default_database_url(data_dir.path()),
            ),
            Kind::Postgres => {
                let name = format!("lastmile_fleet_{}", uuid::Uuid::new_v4().simple());
                psql(&format!("CREATE DATABASE {name}"));
                // Diagnostic only (never for the published figures): commits without waiting
                // for the WAL flush, to see how much of the latency is fsync.
                if let Ok(v) = std::env::var("FLEET_PG_SYNCHRONOUS_COMMIT") {
                    psql(&format!(
                        "ALTER DATABASE {name} SET synchronous_commit = '{}'",
                        v.replace('\'', "")
                    ));
                }
                let base = pg_admin_url();
                let (root, _) = base.rsplit_once('/').expect("url with a database");
                (Some(name.clone()), format!("{root}/{name}"))
            }
        };
        Backend {
            kind,
            data_dir,
            pg_name,
            url,
        }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(lastmile_bin());
        cmd.env_remove("LASTMILE_CONFIG")
            .env_remove("LASTMILE_LISTEN")
            .env_remove("LASTMILE_LOG")
            .env_remove("RUST_LOG")
            .env("LASTMILE_DATA_DIR", self.data_dir.path())
            .env("LASTMILE_LOG_FORMAT", "json");
        match self.kind {
            Kind::Postgres => cmd.env("DATABASE_URL", &self.url),
            Kind::Sqlite => cmd.env_remove("DATABASE_URL"),
        };
        cmd
    }

    /// `lastmile admin ...`; its trimmed stdout.
    pub fn admin(&self, args: &[&str]) -> String {
        let out = self
            .command()
            .arg("admin")
            .args(args)
            .env("LASTMILE_PASSWORD", PASSWORD)
            .output()
            .expect("run lastmile admin");
        assert!(
            out.status.success(),
            "lastmile admin {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// `lastmile serve --listen 127.0.0.1:0`, with the production defaults (JSON logs at
    /// `info`, one line per request) written to `server.log` in the data directory.
    pub fn serve(&self) -> Server {
        let log = std::fs::File::create(self.data_dir.path().join("server.log")).expect("log");
        let mut child = self
            .command()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn lastmile serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("Lastmile listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("lastmile did not start within 120 s");
        let authority = url.trim_start_matches("http://").to_owned();
        Server {
            pid: child.id(),
            child,
            authority,
        }
    }

    /// Organisation and dispatcher through the admin commands; the dispatcher's id.
    pub fn create_org(&self) -> UserId {
        self.admin(&["create-org", ORG]);
        self.admin(&[
            "create-user",
            "--org",
            ORG,
            "--email",
            DISPATCHER,
            "--name",
            "Dana Dispatcher",
            "--role",
            "dispatcher",
        ])
        .parse()
        .expect("dispatcher id")
    }

    /// An engineer through the admin command; their id.
    pub fn create_engineer(&self, email: &str) -> UserId {
        self.admin(&[
            "create-user",
            "--org",
            ORG,
            "--email",
            email,
            "--name",
            "Engineer",
            "--role",
            "engineer",
        ])
        .parse()
        .expect("engineer id")
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_name {
            psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// The running server.
pub struct Server {
    child: Child,
    pub pid: u32,
    /// `127.0.0.1:PORT`
    pub authority: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Clock ticks per second of `/proc/<pid>/stat`.
pub fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: count fields after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5) are the 12th and 13th after the name.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// (VmRSS, VmHWM) in KiB.
pub fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Whole-machine (busy, total) jiffies from `/proc/stat`.
pub fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = cpu.iter().take(8).sum();
    let idle = cpu.get(3).copied().unwrap_or(0) + cpu.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// PostgreSQL backend processes serving database `db` (their titles read
/// `postgres: USER DB HOST(PORT) STATE`), with their CPU ticks.
pub fn pg_backends(db: &str) -> Vec<(u32, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let needle = format!(" {db} ");
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let title = String::from_utf8_lossy(&c);
                title.starts_with("postgres: ") && title.contains(&needle)
            })
        })
        .filter_map(|pid| Some((pid, cpu_ticks(pid)?)))
        .collect()
}

/// CPU ticks PostgreSQL backends of `db` used between two [`pg_backends`] snapshots.
pub fn pg_ticks_between(before: &[(u32, u64)], after: &[(u32, u64)]) -> u64 {
    after
        .iter()
        .map(|(pid, t)| {
            let start = before.iter().find(|(p, _)| p == pid).map_or(0, |(_, s)| *s);
            t.saturating_sub(start)
        })
        .sum()
}

/// An engineer of the fleet and their phone's token.
#[derive(Clone, Debug)]
pub struct Engineer {
    pub user: UserId,
    pub token: String,
}

/// Engineers `first..first + count` (emails `eng{i}@fleet.test`), each with a registered phone
/// and `orders_each` assigned, scheduled orders, written through the server library.
pub async fn seed_engineers(
    backend: &Backend,
    dispatcher: UserId,
    first: usize,
    count: usize,
    orders_each: usize,
) -> Vec<Engineer> {
    let db = Db::connect(&backend.url).await.expect("connect");
    let docs = DocStore::open(&db).await.expect("doc store");
    let org: OrgId = accounts::resolve_org(&db, ORG).await.expect("org");
    // One argon2 hash for everyone: the accounts are real, the work of hashing is not the point.
    let hash = password::hash_password(PASSWORD).expect("hash");

    let mut users = Vec::with_capacity(count);
    for chunk in (first..first + count).collect::<Vec<_>>().chunks(1_000) {
        let mut tx = db.begin().await.expect("begin");
        for &i in chunk {
            let user = accounts::create_user(
                &mut tx,
                &NewUser {
                    org,
                    email: format!("eng{i}@fleet.test"),
                    name: format!("Engineer {i}"),
                    role: Role::Engineer,
                    password_hash: hash.clone(),
                    customer_id: None,
                    team: None,
                    territory: None,
                },
            )
            .await
            .expect("create engineer");
            users.push(user);
        }
        tx.commit().await.expect("commit users");
    }

    // The parts the phones consume (`device::part`), in the catalog and 1,000 of each in every
    // van: an end of day posts cleanly, as in real life, rather than opening an unknown-SKU
    // discrepancy per line.
    for chunk in users.chunks(1_000) {
        let mut tx = db.begin().await.expect("begin");
        let mut w = Writer::begin(&mut tx, org, Actor::system())
            .await
            .expect("ledger writer");
        for sku in PART_SKUS {
            if catalog::get(&mut tx, org, sku)
                .await
                .expect("catalog")
                .is_none()
            {
                let part = NewPart {
                    sku: sku.into(),
                    name: format!("Part {sku}"),
                    unit: "pcs".into(),
                    unit_cost_minor: 1_000,
                    ..NewPart::default()
                };
                catalog::create(&mut tx, org, w.seq, &part)
                    .await
                    .expect("catalog part");
            }
        }
        for user in chunk {
            let van = locations::ensure_van(&mut tx, org, *user)
                .await
                .expect("van")
                .expect("an engineer has a van");
            let count = Adjustment {
                location: van.id,
                reason: "bench stock".into(),
                note: String::new(),
                lines: PART_SKUS
                    .iter()
                    .map(|sku| AdjustLine {
                        sku: (*sku).into(),
                        counted: Some(1_000),
                        ..AdjustLine::default()
                    })
                    .collect(),
            };
            operations::adjust(&mut tx, &mut w, &count)
                .await
                .expect("stock the van");
        }
        tx.commit().await.expect("commit stock");
    }

    // Phones: one transaction each (that is the library function), a few at a time.
    let mut tokens = vec![String::new(); count];
    let mut set = tokio::task::JoinSet::new();
    for (k, user) in users.iter().copied().enumerate() {
        let db = db.clone();
        set.spawn(async move {
            let (token, hash) = password::new_token(TokenKind::Device);
            let device_id = format!("fleet-phone-{}", uuid::Uuid::new_v4().simple());
            accounts::register_device(&db, org, user, &device_id, Some("bench phone"), &hash)
                .await
                .expect("register device");
            (k, token)
        });
        if set.len() >= 8
            && let Some(r) = set.join_next().await
        {
            let (k, token) = r.expect("join");
            tokens[k] = token;
        }
    }
    while let Some(r) = set.join_next().await {
        let (k, token) = r.expect("join");
        tokens[k] = token;
    }

    // Orders: created, assigned, scheduled and moved to `assigned` by the dispatcher, as the
    // REST API does; 500 per transaction.
    let customer = {
        let mut tx = db.begin().await.expect("begin");
        let c = accounts::create_customer(
            &mut tx,
            org,
            &accounts::Customer {
                id: String::new(),
                name: format!("Fleet customer {first}"),
                phone: None,
                sites: Vec::new(),
            },
        )
        .await
        .expect("customer");
        tx.commit().await.expect("commit customer");
        c
    };
    let work: Vec<(usize, UserId)> = users
        .iter()
        .enumerate()
        .flat_map(|(k, u)| (0..orders_each).map(move |_| (first + k, *u)))
        .collect();
    let day_start = lastmile_server::now_ms() / 86_400_000 * 86_400_000;
    for chunk in work.chunks(500) {
        let mut tx = db.begin().await.expect("begin");
        let seq = docstore::begin_write(&mut tx).await.expect("begin write");
        for (n, (i, engineer)) in chunk.iter().enumerate() {
            let ctx = docs.edit_context(dispatcher, Role::Dispatcher);
            let new = NewWorkOrder {
                id: DocId::new(),
                org,
                number: docstore::next_order_number(&mut tx, org)
                    .await
                    .expect("number"),
                customer: Customer {
                    id: customer.id.clone(),
                    name: customer.name.clone(),
                },
                site: Site {
                    address: format!("{i} Dock Road, Pudong"),
                    lat: 31.2 + (*i % 100) as f64 * 0.001,
                    lon: 121.5 + (n % 100) as f64 * 0.001,
                },
                asset: Asset {
                    id: format!("A-{i}-{n}"),
                    model: "Chiller X200".into(),
                    serial: format!("SN-{i}-{n}"),
                },
                problem: "Compressor trips on high pressure".into(),
                priority: Priority::Normal,
                sla_due_ms: Some(day_start + 86_400_000),
            };
            let mut doc = WorkOrderDoc::create(docs.actor(), &new, &ctx).expect("create");
            doc.assign(&ctx, Some(*engineer)).expect("assign");
            let start = day_start + 8 * 3_600_000 + (n as i64 % 4) * 7_200_000;
            doc.schedule(&ctx, start, start + 7_200_000)
                .expect("schedule");
            doc.set_status(&ctx, Status::Assigned).expect("status");
            docstore::save(&mut tx, org, &mut doc, seq)
                .await
                .expect("save");
        }
        tx.commit().await.expect("commit orders");
    }
    db.pool().close().await;
    users
        .into_iter()
        .zip(tokens)
        .map(|(user, token)| Engineer { user, token })
        .collect()
}

async fn call(
    conn: &mut Conn,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> Value {
    let auth = token.map(|t| format!("Bearer {t}"));
    let (status, bytes) = conn
        .request(
            method,
            path,
            auth.as_deref(),
            "application/json",
            body.to_string().into_bytes(),
        )
        .await
        .expect("request");
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    assert!((200..300).contains(&status), "{path}: {status} {v}");
    v
}

/// The production path for `engineers` (made with `lastmile admin`): each signs in and
/// registers a phone (`POST /api/v1/devices`), and the dispatcher creates a customer and
/// `orders_each` orders per engineer and assigns them (`POST /api/v1/customers`,
/// `/work-orders`, `/work-orders/{id}/assign`).
pub async fn onboard_over_rest(
    server: &Server,
    engineers: &[(UserId, String)],
    orders_each: usize,
) -> Vec<Engineer> {
    let mut conn = Conn::new(&server.authority);
    let login = |email: &str| json!({"email": email, "password": PASSWORD});
    let office = call(
        &mut conn,
        Method::POST,
        "/api/v1/auth/login",
        None,
        login(DISPATCHER),
    )
    .await["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let customer = call(
        &mut conn,
        Method::POST,
        "/api/v1/customers",
        Some(&office),
        json!({"name": "Fleet customer (REST)"}),
    )
    .await["id"]
        .clone();
    let mut out = Vec::new();
    for (n, (user, email)) in engineers.iter().enumerate() {
        let session = call(
            &mut conn,
            Method::POST,
            "/api/v1/auth/login",
            None,
            login(email),
        )
        .await["token"]
            .as_str()
            .expect("token")
            .to_owned();
        let device = call(
            &mut conn,
            Method::POST,
            "/api/v1/devices",
            Some(&session),
            json!({"device_id": format!("rest-phone-{n}"), "name": "bench phone"}),
        )
        .await;
        for k in 0..orders_each {
            let order = call(
                &mut conn,
                Method::POST,
                "/api/v1/work-orders",
                Some(&office),
                json!({
                    "customer_id": customer,
                    "site": {"address": format!("{n}-{k} Dock Road"), "lat": 31.2, "lon": 121.4},
                    "asset": {"id": format!("R-{n}-{k}"), "model": "Chiller X200",
                              "serial": format!("RSN-{n}-{k}")},
                    "problem": "Compressor trips on high pressure",
                }),
            )
            .await;
            let id = order["id"].as_str().expect("order id");
            call(
                &mut conn,
                Method::POST,
                &format!("/api/v1/work-orders/{id}/assign"),
                Some(&office),
                json!({"engineer_id": user.to_string()}),
            )
            .await;
        }
        out.push(Engineer {
            user: *user,
            token: device["token"].as_str().expect("device token").to_owned(),
        });
    }
    out
}

/// Row counts, for the report.
pub async fn counts(backend: &Backend) -> (i64, i64) {
    let db = Db::connect(&backend.url).await.expect("connect");
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(db.pool())
        .await
        .expect("count users");
    let orders: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM work_orders")
        .fetch_one(db.pool())
        .await
        .expect("count orders");
    db.pool().close().await;
    (users, orders)
}

/// `perf record` of the server while a measured phase runs, when `FLEET_PERF_DIR` is set
/// (`perf report -i DIR/NAME.data` afterwards). Stopped on drop.
pub struct Profile(Option<Child>);

impl Profile {
    pub fn start(server: &Server, name: &str) -> Profile {
        let Some(dir) = std::env::var_os("FLEET_PERF_DIR") else {
            return Profile(None);
        };
        let out = PathBuf::from(dir).join(format!("{name}.data"));
        let child = Command::new("perf")
            .args([
                "record",
                "-q",
                "-F",
                "299",
                "--call-graph",
                "dwarf,32768",
                "-o",
            ])
            .arg(&out)
            .args(["-p", &server.pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
        // perf needs a moment to attach.
        std::thread::sleep(Duration::from_millis(500));
        Profile(child)
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

/// Keep the server log of a run that had errors (the data directory is deleted at the end).
pub fn keep_log(backend: &Backend) -> Option<PathBuf> {
    let to = std::env::temp_dir().join(format!(
        "lastmile-fleet-{}-{}.log",
        backend.kind.name(),
        std::process::id()
    ));
    std::fs::copy(backend.data_dir.path().join("server.log"), &to).ok()?;
    Some(to)
}
