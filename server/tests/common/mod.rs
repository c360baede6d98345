//! Test support: real databases (a temporary SQLite file, or a fresh PostgreSQL database that is
//! dropped afterwards), the application over them, and a populated two-organisation fixture.
#![allow(dead_code)] // each test binary uses a different part of this module

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use lastmile_server::accounts::{self, Customer, EngineerProfile, NewUser, Site};
use lastmile_server::auth::password::{self, TokenKind};
use lastmile_server::config::Settings;
use lastmile_server::{AppState, Db, app};
use serde_json::{Value, json};
use std::sync::OnceLock;
use sync_core::{OrgId, Role, UserId};
use tower::ServiceExt;

/// Where PostgreSQL tests connect to create their databases.
pub fn pg_admin_url() -> String {
    std::env::var("LASTMILE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database that exists for one test.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        TestDb {
            url,
            pg_name: None,
            _dir: Some(dir),
        }
    }

    /// A new, uniquely named PostgreSQL database. Fails (never skips) when PostgreSQL is not
    /// reachable: run `scripts/ensure-postgres`.
    pub async fn postgres() -> TestDb {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let admin = pg_admin_url();
        let name = format!("lastmile_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::AnyConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL at {admin} is not reachable ({e}); run scripts/ensure-postgres")
            });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        conn.close().await.ok();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        TestDb {
            url: format!("{base}/{name}"),
            pg_name: Some(name),
            _dir: None,
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.pg_name.is_some()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs outside any runtime guarantee: use a thread with its own runtime.
        let admin = pg_admin_url();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::AnyConnection::connect(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

/// The application over a migrated test database. Keep it alive for the test's duration.
pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    pub db: TestDb,
}

impl TestApp {
    pub async fn new(db: TestDb) -> TestApp {
        Self::with_settings(db, Settings::default()).await
    }

    pub async fn with_settings(db: TestDb, settings: Settings) -> TestApp {
        // Server logs (internal errors with their request id) show in a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_max_level(tracing::Level::WARN)
            .try_init();
        let pool = Db::connect(&db.url).await.expect("connect");
        pool.migrate().await.expect("migrate");
        let state = AppState::new(pool, settings).await.expect("state");
        TestApp {
            router: app(state.clone()),
            state,
            db,
        }
    }

    /// One request through the whole application (middleware included).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .expect("request");
        self.send(req).await
    }

    pub async fn send(&self, req: Request<Body>) -> Response {
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Response {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Response {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

/// The password of every fixture user.
pub const PASSWORD: &str = "correct horse battery";

/// Hashed once per test process: argon2 is the slow part of a fixture.
pub fn password_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| password::hash_password(PASSWORD).unwrap())
        .clone()
}

/// A user of the fixture with a session token.
#[derive(Clone, Debug)]
pub struct Person {
    pub id: UserId,
    pub email: String,
    pub token: String,
}

/// Two organisations: A with one user of every role, a customer, and a work order assigned to
/// `engineer`; B with a dispatcher. Plus devices of `engineer`: one active, one revoked.
pub struct Fixture {
    pub org: OrgId,
    pub other_org: OrgId,
    pub admin: Person,
    pub dispatcher: Person,
    pub warehouse: Person,
    pub engineer: Person,
    pub other_engineer: Person,
    pub customer: Person,
    pub other_org_dispatcher: Person,
    pub customer_id: String,
    pub work_order: String,
    pub device_id: String,
    pub device_token: String,
    pub revoked_device_token: String,
}

async fn person(
    app: &TestApp,
    org: OrgId,
    local: &str,
    role: Role,
    customer_id: Option<&str>,
) -> Person {
    let email = format!("{local}@example.test");
    let mut conn = app.state.db.pool().acquire().await.unwrap();
    let id = accounts::create_user(
        &mut conn,
        &NewUser {
            org,
            email: email.clone(),
            name: local.into(),
            role,
            password_hash: password_hash(),
            customer_id: customer_id.map(str::to_owned),
            team: None,
            territory: None,
        },
    )
    .await
    .unwrap();
    if role == Role::Engineer {
        accounts::put_engineer_profile(&mut conn, org, id, &EngineerProfile::default())
            .await
            .unwrap();
    }
    drop(conn);
    let (token, hash) = password::new_token(TokenKind::Session);
    accounts::create_session(&app.state.db, org, id, &hash, i64::MAX)
        .await
        .unwrap();
    Person { id, email, token }
}

impl Fixture {
    pub async fn new(app: &TestApp) -> Fixture {
        let db = &app.state.db;
        let org = accounts::create_org(db, "Org A").await.unwrap();
        let other_org = accounts::create_org(db, "Org B").await.unwrap();
        let mut conn = db.pool().acquire().await.unwrap();
        let customer = accounts::create_customer(
            &mut conn,
            org,
            &Customer {
                id: "C-1".into(),
                name: "Acme Cold Storage".into(),
                phone: None,
                sites: vec![Site {
                    id: String::new(),
                    address: "1 Dock Rd".into(),
                    lat: 31.23,
                    lon: 121.47,
                }],
            },
        )
        .await
        .unwrap();
        drop(conn);
        let admin = person(app, org, "admin", Role::Admin, None).await;
        let dispatcher = person(app, org, "dispatcher", Role::Dispatcher, None).await;
        let warehouse = person(app, org, "warehouse", Role::Warehouse, None).await;
        let engineer = person(app, org, "engineer", Role::Engineer, None).await;
        let other_engineer = person(app, org, "engineer2", Role::Engineer, None).await;
        let customer_user = person(app, org, "customer", Role::Customer, Some(&customer.id)).await;
        let other_org_dispatcher =
            person(app, other_org, "dispatcher", Role::Dispatcher, None).await;

        let created = app
            .post(
                "/api/v1/work-orders",
                &dispatcher.token,
                json!({
                    "customer_id": customer.id,
                    "site": {"address": "1 Dock Rd", "lat": 31.23, "lon": 121.47},
                    "asset": {"model": "Chiller X200", "serial": "SN-1"},
                    "problem": "Compressor trips",
                    "priority": "high",
                    "sla_due_ms": 1_900_000_000_000i64
                }),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let work_order = created.body["id"].as_str().unwrap().to_owned();
        let assigned = app
            .post(
                &format!("/api/v1/work-orders/{work_order}/assign"),
                &dispatcher.token,
                json!({"engineer_id": engineer.id.to_string()}),
            )
            .await;
        assert_eq!(assigned.status, StatusCode::OK, "{:?}", assigned.body);

        let (device_id, device_token) = register(app, &engineer, "phone-1").await;
        let (revoked_id, revoked_device_token) = register(app, &engineer, "phone-old").await;
        assert!(accounts::revoke_device(db, org, &revoked_id).await.unwrap());

        Fixture {
            org,
            other_org,
            admin,
            dispatcher,
            warehouse,
            engineer,
            other_engineer,
            customer: customer_user,
            other_org_dispatcher,
            customer_id: customer.id,
            work_order,
            device_id,
            device_token,
            revoked_device_token,
        }
    }
}

/// Register a device for `who` over HTTP; returns its id and token.
pub async fn register(app: &TestApp, who: &Person, device_id: &str) -> (String, String) {
    let r = app
        .post(
            "/api/v1/devices",
            &who.token,
            json!({"device_id": device_id, "name": "Test phone"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    (
        r.body["device"]["id"].as_str().unwrap().to_owned(),
        r.body["token"].as_str().unwrap().to_owned(),
    )
}

/// Runs each named `async fn name(db: TestDb)` once on SQLite and once on PostgreSQL, as
/// `sqlite::name` and `postgres::name`.
#[allow(unused_macros)] // tests/serve.rs has nothing backend-specific
macro_rules! conformance {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::common::TestDb::sqlite()).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::common::TestDb::postgres().await).await;
                }
            )+
        }
    };
}
