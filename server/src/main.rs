//! `lastmile`: the Lastmile server and its admin commands.

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use lastmile_server::accounts::{self, NewUser};
use lastmile_server::auth::password;
use lastmile_server::config::{LogFormat, Overrides};
use lastmile_server::{AppState, Config, Db, demo, telemetry};
use std::net::SocketAddr;
use std::path::PathBuf;
use sync_core::Role;
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(name = "lastmile", version, about = "Lastmile field-service server")]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

/// Settings every command shares. Flags win over the environment, which wins over the file.
#[derive(Args)]
struct Common {
    /// TOML configuration file.
    #[arg(long, global = true, env = "LASTMILE_CONFIG")]
    config: Option<PathBuf>,
    /// Where the default SQLite database lives [default: ./lastmile-data].
    #[arg(long, global = true, env = "LASTMILE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// sqlite://FILE or postgres://... [default: sqlite://<data-dir>/lastmile.db].
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Log format on stderr [default: pretty].
    #[arg(long, global = true, env = "LASTMILE_LOG_FORMAT")]
    log_format: Option<LogFormat>,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database and serve the API.
    Serve(Listen),
    /// Apply database migrations and exit.
    Migrate,
    /// Seed a demo organisation (once) and serve it.
    Demo(Listen),
    /// Administration.
    #[command(subcommand)]
    Admin(Admin),
    /// Spare parts maintenance.
    #[command(subcommand)]
    Inventory(Inventory),
}

#[derive(Subcommand)]
enum Inventory {
    /// Recompute every stock balance and serial number from the ledger and compare; exits
    /// non-zero if anything drifted.
    Check {
        /// Only this organisation (id or name) [default: every organisation].
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Args)]
struct Listen {
    /// Address to listen on, ADDR:PORT (port 0 picks a free port) [default: 127.0.0.1:8080].
    #[arg(long, env = "LASTMILE_LISTEN")]
    listen: Option<SocketAddr>,
}

#[derive(Subcommand)]
enum Admin {
    /// Create an organisation; prints its id.
    CreateOrg { name: String },
    /// Create a user; prints its id.
    CreateUser {
        /// Organisation id or name.
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// admin, dispatcher, warehouse, engineer or customer.
        #[arg(long)]
        role: String,
        /// At least 8 characters. Beware of shell history; LASTMILE_PASSWORD works too.
        #[arg(long, env = "LASTMILE_PASSWORD", hide_env_values = true)]
        password: String,
        /// For customer users: the customer id.
        #[arg(long)]
        customer: Option<String>,
        /// For dispatchers.
        #[arg(long)]
        team: Option<String>,
        /// For dispatchers.
        #[arg(long)]
        territory: Option<String>,
    },
    /// Set a user's password and sign them out everywhere.
    ResetPassword {
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        #[arg(long, env = "LASTMILE_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// Revoke a device: its token answers `device_revoked` and the phone wipes its data.
    RevokeDevice {
        #[arg(long)]
        org: String,
        device_id: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let listen = match &cli.command {
        Command::Serve(l) | Command::Demo(l) => l.listen,
        _ => None,
    };
    let config = Config::load(Overrides {
        config_file: cli.common.config,
        listen,
        data_dir: cli.common.data_dir,
        database_url: cli.common.database_url,
        log_format: cli.common.log_format,
    })?;
    telemetry::init(config.log_format);

    let db = Db::connect(&config.database_url)
        .await
        .context("cannot open the database")?;
    db.migrate().await?;
    match cli.command {
        Command::Migrate => {
            println!(
                "database is at schema version {}",
                lastmile_server::db::latest_version()
            );
        }
        Command::Serve(_) => {
            let state = AppState::new(db.clone(), config.settings.clone()).await?;
            run(&config, state).await?;
        }
        Command::Demo(_) => {
            let mut settings = config.settings.clone();
            // The demo organisation is in Shanghai: show its times there unless configured.
            if settings.time_zone.iana_name() == Some("UTC") {
                settings.time_zone = demo::time_zone();
            }
            let state = AppState::new(db.clone(), settings).await?;
            let summary = demo::seed(&state).await?;
            println!(
                "Demo organisation {:?} {} ({} work orders).",
                demo::ORG_NAME,
                if summary.created {
                    "seeded"
                } else {
                    "already seeded"
                },
                demo::WORK_ORDERS
            );
            println!("Demo accounts:");
            for a in &summary.accounts {
                println!("  {:<11} {:<34} {}", a.role.as_str(), a.email, a.name);
            }
            println!("Demo password (all accounts): {}", demo::PASSWORD);
            run(&config, state).await?;
        }
        Command::Admin(admin) => admin_command(&db, admin).await?,
        Command::Inventory(Inventory::Check { org }) => {
            let result = inventory_check(&db, org).await;
            db.close().await;
            return result;
        }
    }
    db.close().await;
    Ok(())
}

async fn run(config: &Config, state: AppState) -> anyhow::Result<()> {
    if state.db.backend() == lastmile_server::db::Backend::Postgres {
        // Live push across nodes: other nodes' writes wake this node's long polls.
        state
            .docs
            .feed()
            .listen_postgres(config.database_url.clone());
    }
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let shutdown = lastmile_server::shutdown_signal();
    println!("Lastmile listening on http://{addr}");
    println!("Web console: http://{addr}/console");
    tracing::info!(%addr, database = ?state.db.backend(), "listening");
    lastmile_server::serve(listener, state, shutdown).await?;
    Ok(())
}

async fn hash(password: String) -> anyhow::Result<String> {
    Ok(tokio::task::spawn_blocking(move || password::hash_password(&password)).await??)
}

async fn admin_command(db: &Db, admin: Admin) -> anyhow::Result<()> {
    match admin {
        Admin::CreateOrg { name } => {
            let org = accounts::create_org(db, &name).await.map_err(conflict)?;
            println!("{org}");
        }
        Admin::CreateUser {
            org,
            email,
            name,
            role,
            password,
            customer,
            team,
            territory,
        } => {
            let org = accounts::resolve_org(db, &org).await?;
            let Some(role) = Role::parse(&role).filter(|r| *r != Role::System) else {
                bail!("unknown role {role:?}: admin, dispatcher, warehouse, engineer or customer");
            };
            let password_hash = hash(password).await?;
            let mut conn = db.pool().acquire().await?;
            let user = accounts::create_user(
                &mut conn,
                &NewUser {
                    org,
                    email,
                    name,
                    role,
                    password_hash,
                    customer_id: customer,
                    team,
                    territory,
                },
            )
            .await
            .map_err(conflict)?;
            println!("{user}");
        }
        Admin::ResetPassword {
            org,
            email,
            password,
        } => {
            let org = accounts::resolve_org(db, &org).await?;
            let password_hash = hash(password).await?;
            accounts::set_password(db, org, &email, &password_hash).await?;
            println!("password set; the user's sessions are revoked");
        }
        Admin::RevokeDevice { org, device_id } => {
            let org = accounts::resolve_org(db, &org).await?;
            if !accounts::revoke_device(db, org, &device_id).await? {
                bail!("no device {device_id:?} in that organisation");
            }
            println!("device {device_id} revoked");
        }
    }
    Ok(())
}

/// `lastmile inventory check`: print what was checked and every drift; fail if there is one.
async fn inventory_check(db: &Db, org: Option<String>) -> anyhow::Result<()> {
    let org = match org {
        Some(o) => Some(accounts::resolve_org(db, &o).await?),
        None => None,
    };
    let mut conn = db.pool().acquire().await?;
    let report = lastmile_server::inventory::check::run(&mut conn, org).await?;
    println!(
        "checked {} movements, {} balances, {} serial numbers",
        report.movements, report.balances, report.serials
    );
    for drift in &report.drifts {
        println!("drift: {drift}");
    }
    if !report.is_clean() {
        bail!(
            "{} drift(s) between the ledger and the balances",
            report.drifts.len()
        );
    }
    println!("no drift: every balance equals the ledger");
    Ok(())
}

/// Say "already exists" rather than dumping a constraint error.
fn conflict(e: lastmile_server::Error) -> anyhow::Error {
    if e.is_unique_violation() {
        anyhow::anyhow!("it already exists")
    } else {
        e.into()
    }
}
