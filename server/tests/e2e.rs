//! The real `lastmile` binary over a real socket: admin commands, `serve`, `demo`, SIGTERM.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_lastmile");

fn lastmile(data_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("DATABASE_URL")
        .env_remove("LASTMILE_CONFIG")
        .env_remove("LASTMILE_LISTEN")
        .env("LASTMILE_DATA_DIR", data_dir)
        .env("LASTMILE_LOG_FORMAT", "json")
        .kill_on_drop(true);
    cmd
}

/// Run a command to completion; returns its stdout, panics with its stderr on failure.
async fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().await.expect("run lastmile");
    assert!(
        out.status.success(),
        "lastmile failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Start a long-running command and wait for its `Lastmile listening on http://...` line.
/// Returns the child, the base URL and everything printed before it.
async fn start(cmd: &mut Command) -> (Child, String, Vec<String>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn lastmile");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut before = Vec::new();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("Lastmile listening on ") {
                return url.trim().to_owned();
            }
            before.push(line);
        }
        panic!("lastmile exited before listening: {before:?}");
    })
    .await
    .expect("lastmile did not start within 60 s");
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url, before)
}

/// One HTTP/1.1 request over a fresh connection.
async fn http(method: Method, url: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let uri: hyper::Uri = url.parse().unwrap();
    let authority = uri.authority().unwrap().clone();
    let stream = TcpStream::connect(authority.as_str())
        .await
        .expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(uri.path_and_query().unwrap().as_str())
        .header(hyper::header::HOST, authority.as_str());
    if let Some(t) = token {
        req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let bytes = match body {
        Some(b) => {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
            Bytes::from(b.to_string())
        }
        None => Bytes::new(),
    };
    let resp = sender
        .send_request(req.body(Full::new(bytes)).unwrap())
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn sigterm_and_wait(mut child: Child) {
    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("lastmile did not stop on SIGTERM")
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
}

#[tokio::test]
async fn serve_answers_over_http_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let org = run_ok(lastmile(dir.path()).args(["admin", "create-org", "Acme Service"])).await;
    assert_eq!(org.trim().len(), 36, "prints the organisation id: {org}");
    run_ok(lastmile(dir.path()).args([
        "admin",
        "create-user",
        "--org",
        "Acme Service",
        "--email",
        "Ops@Acme.test",
        "--name",
        "Ops",
        "--role",
        "dispatcher",
        "--password",
        "s3cret-enough",
    ]))
    .await;
    // The same email again is a clear error, not a crash.
    let dup = lastmile(dir.path())
        .args([
            "admin",
            "create-user",
            "--org",
            "Acme Service",
            "--email",
            "ops@acme.test",
        ])
        .args([
            "--name",
            "Ops",
            "--role",
            "dispatcher",
            "--password",
            "s3cret-enough",
        ])
        .output()
        .await
        .unwrap();
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));

    let (child, url, _) =
        start(lastmile(dir.path()).args(["serve", "--listen", "127.0.0.1:0"])).await;
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
        "{url}"
    );
    assert!(
        dir.path().join("lastmile.db").exists(),
        "default SQLite file in the data dir"
    );

    let (status, body) = http(Method::GET, &format!("{url}/healthz"), None, None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, _) = http(Method::GET, &format!("{url}/readyz"), None, None).await;
    assert_eq!(status, 200);
    let (status, body) = http(
        Method::POST,
        &format!("{url}/api/v1/auth/login"),
        None,
        Some(json!({"email": "ops@acme.test", "password": "s3cret-enough"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let (status, me) = http(Method::GET, &format!("{url}/api/v1/me"), Some(&token), None).await;
    assert_eq!(status, 200);
    assert_eq!(me["user"]["role"], "dispatcher");
    sigterm_and_wait(child).await;

    // The password can be reset; the old one stops working.
    run_ok(lastmile(dir.path()).args([
        "admin",
        "reset-password",
        "--org",
        org.trim(),
        "--email",
        "ops@acme.test",
        "--password",
        "another-s3cret",
    ]))
    .await;
    let (child, url, _) =
        start(lastmile(dir.path()).args(["serve", "--listen", "127.0.0.1:0"])).await;
    let (status, _) = http(Method::GET, &format!("{url}/api/v1/me"), Some(&token), None).await;
    assert_eq!(status, 401, "sessions are revoked by a password reset");
    let (status, _) = http(
        Method::POST,
        &format!("{url}/api/v1/auth/login"),
        None,
        Some(json!({"email": "ops@acme.test", "password": "another-s3cret"})),
    )
    .await;
    assert_eq!(status, 200);
    sigterm_and_wait(child).await;
}

#[tokio::test]
async fn demo_serves_500_work_orders() {
    let dir = tempfile::tempdir().unwrap();
    let (child, url, printed) =
        start(lastmile(dir.path()).args(["demo", "--listen", "127.0.0.1:0"])).await;
    let password = printed
        .iter()
        .find_map(|l| l.strip_prefix("Demo password (all accounts): "))
        .expect("the demo prints its password")
        .trim()
        .to_owned();
    let dispatcher = printed
        .iter()
        .find(|l| l.trim_start().starts_with("dispatcher"))
        .and_then(|l| l.split_whitespace().nth(1))
        .expect("the demo prints a dispatcher account")
        .to_owned();
    let (status, body) = http(
        Method::POST,
        &format!("{url}/api/v1/auth/login"),
        None,
        Some(json!({"email": dispatcher, "password": password})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap();
    let (status, list) = http(
        Method::GET,
        &format!("{url}/api/v1/work-orders?limit=1000"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], 500);
    assert_eq!(list["items"].as_array().unwrap().len(), 500);
    sigterm_and_wait(child).await;

    // A second run finds the demo seeded and serves the same data.
    let (child, _, printed) =
        start(lastmile(dir.path()).args(["demo", "--listen", "127.0.0.1:0"])).await;
    assert!(
        printed.iter().any(|l| l.contains("already seeded")),
        "{printed:?}"
    );
    sigterm_and_wait(child).await;
}

#[tokio::test]
async fn serve_refuses_a_database_from_a_newer_lastmile() {
    let dir = tempfile::tempdir().unwrap();
    run_ok(lastmile(dir.path()).arg("migrate")).await;
    let url = format!("sqlite://{}", dir.path().join("lastmile.db").display());
    let db = lastmile_server::Db::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', 1, x'00', 0)",
    )
    .execute(db.pool())
    .await
    .unwrap();
    db.close().await;
    let out = lastmile(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("newer Lastmile"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
}
