//! The server database: one pool over SQLite or PostgreSQL (sqlx's `Any` driver), and the
//! migrations of both dialects.
//!
//! Queries are written once for both backends: `$1` placeholders, `ON CONFLICT` and `RETURNING`
//! (SQLite >= 3.35 has both), and only the column types the `Any` driver maps on both sides
//! (i64, f64, text, blob; ids as UUID text, times as UTC milliseconds).

use crate::error::{Error, Result};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migrate, Migration, MigrationType, Migrator};
use sqlx::{Any, AnyPool, Executor, SqlSafeStr, Transaction};
use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

/// The SQL dialect behind a [`Db`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a database URL names.
    pub fn of_url(url: &str) -> Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(Error::Config(
                "DATABASE_URL must start with sqlite: or postgres:".into(),
            ))
        }
    }
}

/// Every migration of one dialect, embedded in the binary. The two lists have the same versions
/// and names; `migrations_of_both_dialects_match` checks it.
macro_rules! migrations {
    ($dialect:literal: $(($version:literal, $file:literal)),+ $(,)?) => {
        vec![$(
            Migration::new(
                $version,
                Cow::Borrowed($file),
                MigrationType::Simple,
                include_str!(concat!("../../migrations/", $dialect, "/", $file, ".sql"))
                    .into_sql_str(),
                false,
            ),
        )+]
    };
}

/// A new migration is one more line in each list (and one file in each folder).
fn migrations(backend: Backend) -> Vec<Migration> {
    match backend {
        Backend::Sqlite => {
            migrations!("sqlite": (1, "0001_init"), (2, "0002_sync"), (3, "0003_inventory"), (4, "0004_blobs"), (5, "0005_territories"), (6, "0006_user_locale"), (7, "0007_user_time_zone"))
        }
        Backend::Postgres => {
            migrations!("postgres": (1, "0001_init"), (2, "0002_sync"), (3, "0003_inventory"), (4, "0004_blobs"), (5, "0005_territories"), (6, "0006_user_locale"), (7, "0007_user_time_zone"))
        }
    }
}

/// The embedded migrator of a dialect.
pub fn migrator(backend: Backend) -> Migrator {
    Migrator::with_migrations(migrations(backend))
}

/// The newest schema version this build knows.
pub fn latest_version() -> i64 {
    migrations(Backend::Sqlite)
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0)
}

/// How long a document writer waits for its turn before the request is answered 503 `busy`.
/// Phones give up on a request after 30 s by default (mobile-ffi's `request_timeout_ms`): work
/// started later than this would likely answer no one.
pub const WRITER_QUEUE_TIMEOUT: Duration = Duration::from_secs(20);

/// A pool over the server database.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// This process's queue of document writers: see [`Db::writer_turn`].
    writers: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl Db {
    /// Connect, creating a missing SQLite file (and its directory). SQLite connections get WAL,
    /// foreign keys, `synchronous = NORMAL` (durable with WAL) and a busy timeout.
    pub async fn connect(url: &str) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url)?;
        let url = match backend {
            Backend::Sqlite => sqlite_url_creating(url)?,
            Backend::Postgres => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool_options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        let pool = match backend {
            Backend::Sqlite => {
                pool_options
                    // One writer at a time anyway (queued in `writer_turn`); readers beside it:
                    // sync requests loading documents to merge (`AppState::merge_permit`),
                    // idle syncs, long polls, the API.
                    .max_connections(8)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            for pragma in [
                                "PRAGMA journal_mode = WAL",
                                "PRAGMA foreign_keys = ON",
                                "PRAGMA synchronous = NORMAL",
                                "PRAGMA busy_timeout = 10000",
                            ] {
                                conn.execute(pragma).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => {
                pool_options
                    .max_connections(10)
                    .connect_with(options)
                    .await?
            }
        };
        Ok(Db {
            pool,
            backend,
            writers: Default::default(),
        })
    }

    /// Begin a transaction that may write. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes fails at once with
    /// `SQLITE_BUSY` when another writer got in between (the busy timeout cannot help it), while
    /// an immediate one just waits its turn. PostgreSQL uses a plain `BEGIN`.
    pub async fn begin(&self) -> Result<Transaction<'static, Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Wait for this process's turn to write documents, before taking a connection for the
    /// write transaction. Document writers serialise anyway (`docstore::begin_write`); queueing
    /// them here, first come first served, keeps a burst of them from holding every pooled
    /// connection while they wait for the database's lock, which would starve the readers and
    /// time out. Other nodes on the same PostgreSQL still serialise on the lock itself. A writer
    /// that waited [`WRITER_QUEUE_TIMEOUT`] gives up with `sqlx::Error::PoolTimedOut`, which
    /// the API answers as 503 `busy` (nothing changed, retry later): an overloaded server sheds
    /// load instead of queueing without bound.
    pub async fn writer_turn(&self) -> Result<tokio::sync::OwnedMutexGuard<()>> {
        tokio::time::timeout(WRITER_QUEUE_TIMEOUT, self.writers.clone().lock_owned())
            .await
            .map_err(|_| Error::Database(sqlx::Error::PoolTimedOut))
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Versions recorded as applied (empty for a fresh database).
    pub async fn applied_versions(&self) -> Result<Vec<i64>> {
        let mut conn = self.pool.acquire().await?;
        let migrator = migrator(self.backend);
        conn.ensure_migrations_table(&migrator.table_name).await?;
        let applied = conn.list_applied_migrations(&migrator.table_name).await?;
        Ok(applied.into_iter().map(|m| m.version).collect())
    }

    /// Refuse a database migrated by a newer Lastmile (it has versions this build lacks).
    pub async fn check_not_newer(&self) -> Result<()> {
        let known = migrator(self.backend);
        let unknown: Vec<i64> = self
            .applied_versions()
            .await?
            .into_iter()
            .filter(|v| !known.version_exists(*v))
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(Error::NewerDatabase {
                unknown,
                known: latest_version(),
            })
        }
    }

    /// Apply missing migrations (after refusing a newer database).
    pub async fn migrate(&self) -> Result<()> {
        self.check_not_newer().await?;
        migrator(self.backend).run(&self.pool).await?;
        Ok(())
    }

    /// Reachable and fully migrated: what `/readyz` reports. Read-only (a missing migrations
    /// table just means "not ready").
    pub async fn is_ready(&self) -> bool {
        let applied: Result<Vec<i64>> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = $1")
                .bind(true)
                .fetch_all(&self.pool)
                .await
                .map_err(Error::from);
        match applied {
            Ok(applied) => migrator(self.backend)
                .iter()
                .all(|m| applied.contains(&m.version)),
            Err(e) => {
                tracing::warn!(error = %e, "database not ready");
                false
            }
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Make sure a SQLite URL creates the file (`mode=rwc`) and that its directory exists.
fn sqlite_url_creating(url: &str) -> Result<String> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" {
        return Ok(url.to_owned());
    }
    if let Some(dir) = std::path::Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    if query.contains("mode=") {
        Ok(url.to_owned())
    } else if query.is_empty() {
        Ok(format!("sqlite://{path}?mode=rwc"))
    } else {
        Ok(format!("sqlite://{path}?{query}&mode=rwc"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_of_both_dialects_match() {
        let sqlite = migrations(Backend::Sqlite);
        let postgres = migrations(Backend::Postgres);
        let names = |ms: &[Migration]| -> Vec<(i64, String)> {
            ms.iter()
                .map(|m| (m.version, m.description.to_string()))
                .collect()
        };
        assert_eq!(names(&sqlite), names(&postgres));
        assert!(latest_version() >= 1);
    }

    #[test]
    fn sqlite_urls_get_create_mode() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/lastmile.db");
        let url = format!("sqlite://{}", file.display());
        assert_eq!(
            sqlite_url_creating(&url).unwrap(),
            format!("{url}?mode=rwc")
        );
        assert!(file.parent().unwrap().is_dir());
        assert_eq!(
            sqlite_url_creating("sqlite::memory:").unwrap(),
            "sqlite::memory:"
        );
        assert!(Backend::of_url("mysql://x").is_err());
    }
}
