//! Harness of the end-to-end tests: the real `lastmile` binary as a child process over SQLite or
//! a fresh PostgreSQL database, office users over HTTP, and phones that are sync-core device
//! stores syncing over real HTTP.

pub mod png;
pub mod webdriver;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use sync_core::protocol::device::{self, SyncReport};
use sync_core::protocol::wire::Limits;
use sync_core::{DocId, EditContext, Error, Role, Store, UserId, WorkOrderDoc};

pub const PASSWORD: &str = "correct horse battery";
/// The password of every account `lastmile demo` creates.
pub const DEMO_PASSWORD: &str = "lastmile-demo";

/// The `lastmile` binary, built once per test process (a no-op when cargo built it already).
pub fn lastmile_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(p) = std::env::var("LASTMILE_BIN") {
            return PathBuf::from(p);
        }
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "server", "--bin", "lastmile"])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build -p server failed");
        // target/debug/deps/<test> -> target/debug/lastmile
        let exe = std::env::current_exe().expect("current exe");
        let dir = exe.parent().and_then(Path::parent).expect("target dir");
        dir.join("lastmile")
    })
    .clone()
}

/// Which database a test server runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database for one test: an SQLite file in the data dir, or a fresh PostgreSQL database
/// dropped at the end.
pub struct TestDb {
    pub backend: Backend,
    pub data_dir: tempfile::TempDir,
    pg_name: Option<String>,
}

fn pg_admin_url() -> String {
    std::env::var("LASTMILE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn psql(sql: &str) {
    let out = Command::new("psql")
        .args([pg_admin_url().as_str(), "-v", "ON_ERROR_STOP=1", "-qc", sql])
        .output()
        .expect("psql must be installed (scripts/ensure-postgres installs it)");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestDb {
    pub fn new(backend: Backend) -> TestDb {
        let pg_name = (backend == Backend::Postgres).then(|| {
            let name = format!("lastmile_e2e_{}", uuid::Uuid::new_v4().simple());
            psql(&format!("CREATE DATABASE {name}"));
            name
        });
        TestDb {
            backend,
            data_dir: tempfile::tempdir().expect("temp dir"),
            pg_name,
        }
    }

    /// The `DATABASE_URL` to give the server, if not the default SQLite file.
    pub fn url(&self) -> Option<String> {
        self.pg_name.as_ref().map(|n| {
            let base = pg_admin_url();
            let (root, _) = base.rsplit_once('/').expect("url with a database");
            format!("{root}/{n}")
        })
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(lastmile_bin());
        cmd.env_remove("LASTMILE_CONFIG")
            .env_remove("LASTMILE_LISTEN")
            .env("LASTMILE_DATA_DIR", self.data_dir.path())
            .env("LASTMILE_LOG_FORMAT", "json")
            .env("RUST_LOG", "warn");
        match self.url() {
            Some(u) => cmd.env("DATABASE_URL", u),
            None => cmd.env_remove("DATABASE_URL"),
        };
        cmd
    }

    /// Run an admin command; returns its trimmed stdout.
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

    /// Start a server on a free port.
    pub fn serve(&self) -> Server {
        self.start("serve")
    }

    /// Seed the demo organisation (`lastmile demo`: accounts with [`DEMO_PASSWORD`], 500
    /// orders, stocked vans) and serve it on a free port.
    pub fn demo(&self) -> Server {
        self.start("demo")
    }

    fn start(&self, command: &str) -> Server {
        let mut child = self
            .command()
            .args([command, "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
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
            .recv_timeout(Duration::from_secs(60))
            .expect("lastmile did not start within 60 s");
        Server { child, url }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_name {
            psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// A running server process.
pub struct Server {
    child: Child,
    pub url: String,
}

impl Server {
    /// SIGKILL: no shutdown, no flush.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn client() -> reqwest::blocking::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

/// A signed-in office user (dispatcher) talking JSON.
pub struct Office {
    pub url: String,
    pub token: String,
    http: reqwest::blocking::Client,
}

pub fn login(url: &str, email: &str) -> String {
    login_with(url, email, PASSWORD)
}

/// Sign in with a given password (the demo's, say); returns the session token.
pub fn login_with(url: &str, email: &str, password: &str) -> String {
    let (status, body) = call(
        &client(),
        "POST",
        &format!("{url}/api/v1/auth/login"),
        None,
        Some(json!({"email": email, "password": password})),
    );
    assert_eq!(status, 200, "login {email}: {body}");
    body["token"].as_str().expect("token").to_owned()
}

/// One JSON request; returns the status and the JSON body (Null when empty).
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
        req = req.json(&b);
    }
    let resp = req.send().expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

impl Office {
    pub fn login(url: &str, email: &str) -> Office {
        Office::login_with(url, email, PASSWORD)
    }

    pub fn login_with(url: &str, email: &str, password: &str) -> Office {
        Office {
            url: url.to_owned(),
            token: login_with(url, email, password),
            http: client(),
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

    /// Create a customer and an order for it; returns the order id.
    pub fn create_order(&self, n: u32) -> DocId {
        let (s, c) = self.call(
            "POST",
            "/api/v1/customers",
            Some(json!({"name": format!("Customer {n}")})),
        );
        assert_eq!(s, 201, "{c}");
        let (s, o) = self.call(
            "POST",
            "/api/v1/work-orders",
            Some(json!({
                "customer_id": c["id"],
                "site": {"address": format!("{n} Dock Road"), "lat": 31.2, "lon": 121.4},
                "asset": {"id": format!("A-{n}"), "model": "Chiller X200", "serial": format!("SN-{n}")},
                "problem": "Compressor trips",
            })),
        );
        assert_eq!(s, 201, "{o}");
        o["id"].as_str().unwrap().parse().unwrap()
    }

    pub fn assign(&self, order: DocId, engineer: Option<UserId>) {
        let (s, b) = self.call(
            "POST",
            &format!("/api/v1/work-orders/{order}/assign"),
            Some(json!({"engineer_id": engineer.map(|e| e.to_string())})),
        );
        assert_eq!(s, 200, "{b}");
    }

    /// The whole order as plain records (visits, parts, events, flags).
    pub fn document(&self, order: DocId) -> Value {
        let (s, b) = self.call(
            "GET",
            &format!("/api/v1/work-orders/{order}/document"),
            None,
        );
        assert_eq!(s, 200, "{b}");
        b
    }
}

/// An organisation with a dispatcher and engineers, created with the admin commands.
pub struct Org {
    pub dispatcher_email: String,
    pub engineers: Vec<(UserId, String)>,
}

pub fn setup_org(db: &TestDb, engineers: usize) -> Org {
    let org_name = format!("Org {}", uuid::Uuid::new_v4().simple());
    db.admin(&["create-org", &org_name]);
    let dispatcher_email = format!("dispatch@{}.test", &org_name[4..12]);
    db.admin(&[
        "create-user",
        "--org",
        &org_name,
        "--email",
        &dispatcher_email,
        "--name",
        "Dana Dispatcher",
        "--role",
        "dispatcher",
    ]);
    let engineers = (0..engineers)
        .map(|i| {
            let email = format!("eng{i}@{}.test", &org_name[4..12]);
            let id = db.admin(&[
                "create-user",
                "--org",
                &org_name,
                "--email",
                &email,
                "--name",
                &format!("Engineer {i}"),
                "--role",
                "engineer",
            ]);
            (id.parse().expect("user id"), email)
        })
        .collect();
    Org {
        dispatcher_email,
        engineers,
    }
}

/// An engineer's phone: a real device store and a device token.
pub struct Phone {
    pub store: Store,
    pub user: UserId,
    pub device_id: String,
    pub token: String,
    pub url: String,
    _dir: tempfile::TempDir,
    http: reqwest::blocking::Client,
    clock: std::sync::atomic::AtomicI64,
}

impl Phone {
    pub fn register(url: &str, user: UserId, email: &str) -> Phone {
        Phone::register_with(url, user, email, PASSWORD)
    }

    /// Register with a given password (the demo's, say).
    pub fn register_with(url: &str, user: UserId, email: &str, password: &str) -> Phone {
        let http = client();
        let session = login_with(url, email, password);
        let device_id = format!("phone-{}", uuid::Uuid::new_v4().simple());
        let (s, b) = call(
            &http,
            "POST",
            &format!("{url}/api/v1/devices"),
            Some(&session),
            Some(json!({"device_id": device_id, "name": "test phone"})),
        );
        assert_eq!(s, 201, "{b}");
        let dir = tempfile::tempdir().unwrap();
        Phone {
            store: Store::open(dir.path().join("device.db")).unwrap(),
            user,
            device_id,
            token: b["token"].as_str().unwrap().to_owned(),
            url: url.to_owned(),
            _dir: dir,
            http,
            clock: std::sync::atomic::AtomicI64::new(1_790_000_000_000),
        }
    }

    /// Point the phone at another server node.
    pub fn use_server(&mut self, url: &str) {
        self.url = url.to_owned();
    }

    /// POST raw bytes to the sync endpoint.
    pub fn post(&self, body: &[u8]) -> Result<Vec<u8>, Error> {
        let resp = self
            .http
            .post(format!("{}/api/v1/sync", self.url))
            .bearer_auth(&self.token)
            .header("content-type", "application/octet-stream")
            .body(body.to_vec())
            .send()
            .map_err(|e| Error::Protocol(format!("network: {e}")))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .map_err(|e| Error::Protocol(format!("network: {e}")))?;
        if status != 200 {
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Err(Error::NotAllowed(format!(
                "{status} {}",
                v["code"].as_str().unwrap_or("?")
            )));
        }
        Ok(bytes.to_vec())
    }

    pub fn sync(&self) -> Result<SyncReport, Error> {
        device::sync(
            &self.store,
            &Limits::default(),
            20,
            &mut |b| self.post(b),
            &mut |_| {},
        )
    }

    /// Set the phone's clock (it starts at a fixed instant in 2026 and advances a minute per
    /// edit): tests whose pages show dates use the real time.
    pub fn set_clock(&self, ms: i64) {
        self.clock.store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// An edit on the phone, offline, as the engineer.
    pub fn edit<R>(
        &self,
        order: DocId,
        f: impl FnOnce(&mut WorkOrderDoc, &EditContext) -> sync_core::Result<R>,
    ) -> R {
        let now = self
            .clock
            .fetch_add(60_000, std::sync::atomic::Ordering::Relaxed)
            + 60_000;
        let c = self.store.context(self.user, Role::Engineer, now).unwrap();
        self.store.edit(&order, |d| f(d, &c)).unwrap()
    }

    pub fn has(&self, order: DocId) -> bool {
        self.store.read(|tx| tx.contains(&order)).unwrap()
    }

    /// Long poll: did something change in scope since `cursor`? Returns the answer and the
    /// time it took.
    pub fn wait_for_changes(&self, cursor: u64, wait_ms: u64) -> (bool, Duration) {
        let t = Instant::now();
        let (s, b) = call(
            &self.http,
            "GET",
            &format!(
                "{}/api/v1/sync/changes?cursor={cursor}&wait_ms={wait_ms}",
                self.url
            ),
            Some(&self.token),
            None,
        );
        assert_eq!(s, 200, "{b}");
        (b["changed"].as_bool().unwrap(), t.elapsed())
    }

    /// Upload a photo or signature as the phone does (start, then one chunk); returns its
    /// content hash for the document.
    pub fn upload(&self, bytes: &[u8], content_type: &str) -> sync_core::ContentHash {
        let hash = sync_core::ContentHash::of(bytes);
        let (s, b) = call(
            &self.http,
            "POST",
            &format!("{}/api/v1/blobs/{hash}/upload", self.url),
            Some(&self.token),
            Some(json!({"size": bytes.len(), "content_type": content_type})),
        );
        assert_eq!(s, 200, "start upload: {b}");
        if b["complete"].as_bool() != Some(true) {
            let resp = self
                .http
                .patch(format!("{}/api/v1/blobs/{hash}/upload?offset=0", self.url))
                .bearer_auth(&self.token)
                .header("content-type", "application/octet-stream")
                .body(bytes.to_vec())
                .send()
                .expect("upload chunk");
            assert_eq!(resp.status().as_u16(), 200, "{:?}", resp.text());
        }
        hash
    }

    pub fn cursor(&self) -> u64 {
        self.store.read(|tx| tx.cursor()).unwrap()
    }
}
