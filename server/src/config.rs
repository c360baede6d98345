//! Configuration: defaults, then a TOML file, then environment variables and flags.
//!
//! | setting | flag / env | file key | default |
//! |---|---|---|---|
//! | listen address | `--listen` / `LASTMILE_LISTEN` | `listen` | `127.0.0.1:8080` |
//! | data directory | `--data-dir` / `LASTMILE_DATA_DIR` | `data_dir` | `./lastmile-data` |
//! | database | `--database-url` / `DATABASE_URL` | `database_url` | `sqlite://<data_dir>/lastmile.db` |
//! | log format | `--log-format` / `LASTMILE_LOG_FORMAT` | `log_format` | `pretty` |
//!
//! The file (`--config` / `LASTMILE_CONFIG`) may also set `session_ttl_minutes` (720),
//! `max_body_bytes` (2 MiB), `login_max_failures` (5), `login_window_secs` (60),
//! `time_zone` (an IANA name such as `Europe/Berlin`, `UTC` by default; `utc_offset_minutes`
//! still gives a fixed offset instead), and for the web console's map `map_tiles` (a tile URL
//! template, off by default) with `map_attribution`.

use crate::error::{Error, Result};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "./lastmile-data";

/// How logs are written (to stderr).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line, for log collectors.
    Json,
    /// Human-readable lines.
    #[default]
    Pretty,
}

/// What the file may contain. Unknown keys are an error, so a typo does not go unnoticed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub log_format: Option<LogFormat>,
    pub session_ttl_minutes: Option<u64>,
    pub max_body_bytes: Option<usize>,
    pub login_max_failures: Option<u32>,
    pub login_window_secs: Option<u64>,
    /// The deployment's IANA time zone, e.g. `Europe/Berlin`.
    pub time_zone: Option<String>,
    /// A fixed offset from UTC instead of `time_zone` (no daylight saving): the older setting.
    pub utc_offset_minutes: Option<i32>,
    /// The console map's background tiles, e.g. `https://tile.openstreetmap.org/{z}/{x}/{y}.png`.
    pub map_tiles: Option<String>,
    /// The tile service's required credit, shown on the map.
    pub map_attribution: Option<String>,
}

/// Values given on the command line or in the environment (clap reads both); they win over the
/// file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub log_format: Option<LogFormat>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub log_format: LogFormat,
    pub settings: Settings,
}

/// What the HTTP layer needs at run time.
#[derive(Debug, Clone)]
pub struct Settings {
    pub session_ttl: Duration,
    pub max_body_bytes: usize,
    pub login_max_failures: u32,
    pub login_window: Duration,
    /// The deployment's time zone: dispatch suggestions read engineers' working hours in it,
    /// and the console shows times in it to users who have not chosen their own.
    pub time_zone: jiff::tz::TimeZone,
    /// The data directory: blobs (photos, signatures) live in `<data_dir>/blobs`. The default,
    /// used by tests that build `Settings::default()`, is a folder under the system's temporary
    /// directory; `Config` always sets the configured one.
    pub data_dir: PathBuf,
    /// The web console's map tiles (an `https://` URL template with `{z}`, `{x}` and `{y}`);
    /// `None`: the map is drawn without tiles and needs no network.
    pub map_tiles: Option<String>,
    pub map_attribution: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            session_ttl: Duration::from_secs(12 * 3600),
            max_body_bytes: 2 * 1024 * 1024,
            login_max_failures: 5,
            login_window: Duration::from_secs(60),
            time_zone: jiff::tz::TimeZone::UTC,
            data_dir: std::env::temp_dir().join("lastmile-test-data"),
            map_tiles: None,
            map_attribution: None,
        }
    }
}

impl Config {
    /// Resolve: flags and environment over the file over the defaults.
    pub fn load(overrides: Overrides) -> Result<Config> {
        let file = match &overrides.config_file {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        Self::resolve(file, overrides)
    }

    fn resolve(file: FileConfig, o: Overrides) -> Result<Config> {
        let listen = match o.listen.or(file.listen) {
            Some(a) => a,
            None => DEFAULT_LISTEN.parse().expect("valid default"),
        };
        let data_dir = o
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let database_url = o
            .database_url
            .or(file.database_url)
            .unwrap_or_else(|| default_database_url(&data_dir));
        crate::db::Backend::of_url(&database_url)?;
        let defaults = Settings::default();
        let settings = Settings {
            session_ttl: file
                .session_ttl_minutes
                .map(|m| Duration::from_secs(m * 60))
                .unwrap_or(defaults.session_ttl),
            max_body_bytes: file.max_body_bytes.unwrap_or(defaults.max_body_bytes),
            login_max_failures: file
                .login_max_failures
                .unwrap_or(defaults.login_max_failures),
            login_window: file
                .login_window_secs
                .map(Duration::from_secs)
                .unwrap_or(defaults.login_window),
            time_zone: time_zone(file.time_zone.as_deref(), file.utc_offset_minutes)?
                .unwrap_or(defaults.time_zone),
            data_dir: data_dir.clone(),
            map_tiles: file.map_tiles,
            map_attribution: file.map_attribution,
        };
        if let Some(t) = &settings.map_tiles
            && !(t.starts_with("https://") && ["{z}", "{x}", "{y}"].iter().all(|p| t.contains(p)))
        {
            return Err(Error::Config(
                "map_tiles must be an https:// URL template with {z}, {x} and {y}".into(),
            ));
        }
        if settings.login_max_failures == 0 || settings.max_body_bytes == 0 {
            return Err(Error::Config(
                "login_max_failures and max_body_bytes must be positive".into(),
            ));
        }
        Ok(Config {
            listen,
            data_dir,
            database_url,
            log_format: o.log_format.or(file.log_format).unwrap_or_default(),
            settings,
        })
    }
}

/// The zone `time_zone` names, or the fixed `utc_offset_minutes`; not both.
fn time_zone(name: Option<&str>, offset_min: Option<i32>) -> Result<Option<jiff::tz::TimeZone>> {
    match (name, offset_min) {
        (Some(_), Some(_)) => Err(Error::Config(
            "set time_zone or utc_offset_minutes, not both".into(),
        )),
        (Some(name), None) => parse_time_zone(name).map(Some).ok_or_else(|| {
            Error::Config(format!(
                "time_zone {name:?} is not an IANA time zone (such as Europe/Berlin or UTC)"
            ))
        }),
        (None, Some(m)) if (-14 * 60..=14 * 60).contains(&m) => {
            let offset = jiff::tz::Offset::from_seconds(m * 60).expect("within ±14 h");
            Ok(Some(jiff::tz::TimeZone::fixed(offset)))
        }
        (None, Some(_)) => Err(Error::Config(
            "utc_offset_minutes must be within -840..=840".into(),
        )),
        (None, None) => Ok(None),
    }
}

/// An IANA time zone by name (`Europe/Berlin`, `UTC`), from the system's tz database or, where
/// the host has none, the copy built in.
pub fn parse_time_zone(name: &str) -> Option<jiff::tz::TimeZone> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 {
        return None;
    }
    jiff::tz::TimeZone::get(name).ok()
}

/// `sqlite://<data_dir>/lastmile.db`.
pub fn default_database_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("lastmile.db").display())
}

fn read_file(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_put_the_sqlite_database_in_the_data_dir() {
        let c = Config::resolve(FileConfig::default(), Overrides::default()).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.database_url, "sqlite://./lastmile-data/lastmile.db");
        assert_eq!(c.log_format, LogFormat::Pretty);
        assert_eq!(c.settings.login_max_failures, 5);
    }

    #[test]
    fn flags_and_environment_win_over_the_file() {
        let file: FileConfig = toml::from_str(
            r#"
            listen = "0.0.0.0:9000"
            data_dir = "/var/lib/lastmile"
            log_format = "json"
            session_ttl_minutes = 30
            "#,
        )
        .unwrap();
        let c = Config::resolve(
            file,
            Overrides {
                listen: Some("127.0.0.1:0".parse().unwrap()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:0");
        assert_eq!(c.database_url, "sqlite:///var/lib/lastmile/lastmile.db");
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.settings.session_ttl, Duration::from_secs(1800));
    }

    #[test]
    fn unknown_file_keys_and_databases_are_refused() {
        assert!(toml::from_str::<FileConfig>("lisen = \"x\"").is_err());
        let file = FileConfig {
            database_url: Some("mysql://x".into()),
            ..FileConfig::default()
        };
        assert!(Config::resolve(file, Overrides::default()).is_err());
    }

    #[test]
    fn the_time_zone_is_an_iana_name_or_a_fixed_offset() {
        let zone = |text: &str| {
            let file: FileConfig = toml::from_str(text).unwrap();
            Config::resolve(file, Overrides::default()).map(|c| c.settings.time_zone)
        };
        assert_eq!(zone("").unwrap().iana_name(), Some("UTC"));
        let berlin = zone("time_zone = \"Europe/Berlin\"").unwrap();
        assert_eq!(berlin.iana_name(), Some("Europe/Berlin"));
        // Winter and summer offsets: a zone, not a fixed offset.
        let offset = |ms: i64| {
            berlin
                .to_offset(jiff::Timestamp::from_millisecond(ms).unwrap())
                .seconds()
        };
        assert_eq!(offset(1_767_225_600_000), 3600, "2026-01-01");
        assert_eq!(offset(1_782_864_000_000), 7200, "2026-07-01");
        let fixed = zone("utc_offset_minutes = 480").unwrap();
        assert_eq!(
            fixed
                .to_offset(jiff::Timestamp::from_millisecond(0).unwrap())
                .seconds(),
            480 * 60
        );
        for bad in [
            "time_zone = \"Mars/Olympus_Mons\"",
            "time_zone = \"\"",
            "time_zone = \"../../etc/passwd\"",
            "utc_offset_minutes = 900",
            "time_zone = \"UTC\"\nutc_offset_minutes = 60",
        ] {
            let err = zone(bad).unwrap_err().to_string();
            assert!(
                err.contains("time_zone") || err.contains("utc_offset_minutes"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn map_tiles_must_be_an_https_template() {
        let with = |t: &str| FileConfig {
            map_tiles: Some(t.into()),
            ..FileConfig::default()
        };
        let ok = Config::resolve(
            with("https://tile.openstreetmap.org/{z}/{x}/{y}.png"),
            Overrides::default(),
        );
        assert!(ok.unwrap().settings.map_tiles.is_some());
        for bad in [
            "http://tiles.example/{z}/{x}/{y}.png",
            "https://tiles.example/{z}/{x}.png",
        ] {
            assert!(
                Config::resolve(with(bad), Overrides::default()).is_err(),
                "{bad}"
            );
        }
    }
}
