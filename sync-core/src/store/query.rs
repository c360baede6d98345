//! The query table (`orders`) and its full-text index: how a document becomes a row, and the
//! listing and search queries, which read rows only and never load a document.
//!
//! A row keeps the typed columns that filters and sort orders need (each listing is backed by a
//! named index, see `schema.rs`) and the whole [`OrderSummary`] as JSON, which is what listings
//! return. Storing the summary as JSON, rather than one column per field, means a field added to
//! `OrderSummary` needs no schema change: on open, the store notices that rows are stale and
//! rebuilds them from the documents (`StoreTx::reindex_if_stale`).

use crate::workorder::{OrderSummary, Status};
use crate::{Error, Result, UserId, WorkOrderDoc};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

/// Which orders to list, and in which order. `Default` lists every order by schedule, with no
/// limit.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListQuery {
    /// Only these statuses (`None`: any; an empty list matches nothing).
    pub status: Option<Vec<Status>>,
    /// Only orders assigned to this engineer.
    pub assignee: Option<UserId>,
    /// Only orders whose schedule window ends at or after this instant (UTC milliseconds).
    /// With `to_ms`, this selects windows overlapping `[from_ms, to_ms]`. Once either bound is
    /// given, orders without a window start do not match; a window with a start but no end
    /// counts as the instant it starts.
    pub from_ms: Option<i64>,
    /// Only orders whose schedule window starts at or before this instant (UTC milliseconds).
    pub to_ms: Option<i64>,
    /// The order of the result.
    pub sort: Sort,
    /// At most this many orders; 0 means no limit.
    pub limit: u32,
    /// Skip this many orders first (paging; stable, see [`Sort`]).
    pub offset: u32,
}

/// Sort order of [`ListQuery`]. Every order breaks ties by the order documents were first
/// stored on this device, so paging with `offset` is stable.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Sort {
    /// Schedule window start, earliest first; unscheduled orders last.
    #[default]
    Schedule,
    /// Urgent first (then high, normal, low); within a priority by SLA due, earliest first,
    /// orders without an SLA last.
    Priority,
    /// SLA due, earliest first; orders without an SLA last.
    Sla,
    /// Nearest site first, by great-circle distance from `(lat, lon)` in degrees.
    ///
    /// Computed in SQL from the site's position on the unit sphere (columns x, y, z, stored when
    /// the row is written): the squared chord length to the point orders exactly like the
    /// great-circle distance, with no trigonometry per row and no error near the poles or the
    /// antimeridian (an equirectangular approximation has both). It cannot use an index (the key
    /// depends on the point); filters still do, and sorting the rest is cheap at a device's scale
    /// (about 0.4 ms for 500 orders, see docs/device-store.md). A site without coordinates reads as (0, 0).
    DistanceFrom {
        /// Latitude in degrees.
        lat: f64,
        /// Longitude in degrees.
        lon: f64,
    },
}

/// The site on the unit sphere.
fn unit_vector(lat: f64, lon: f64) -> (f64, f64, f64) {
    let (lat, lon) = (lat.to_radians(), lon.to_radians());
    (lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin())
}

/// SQLite stores NaN as NULL and JSON has no NaN: a non-finite coordinate (from a newer or buggy
/// writer) is kept as 0 in the query row; the document keeps whatever it holds.
fn finite(v: f64) -> f64 {
    if v.is_finite() { v } else { 0.0 }
}

/// The row of one document, as this build derives it.
#[derive(Debug, PartialEq)]
struct Row {
    status: String,
    priority_rank: i64,
    assignee: Option<String>,
    window_start_ms: Option<i64>,
    window_end_ms: Option<i64>,
    sla_due_ms: Option<i64>,
    lat: f64,
    lon: f64,
    x: f64,
    y: f64,
    z: f64,
    number: String,
    customer_name: String,
    site_address: String,
    asset_serial: String,
    asset_model: String,
    problem: String,
    summary: String,
}

impl Row {
    fn of(doc: &WorkOrderDoc) -> Result<Row> {
        let mut s = doc.summary()?;
        s.lat = finite(s.lat);
        s.lon = finite(s.lon);
        // The one searchable field the summary does not carry.
        let asset_model = doc.header()?.asset.model;
        let summary = serde_json::to_string(&s)
            .map_err(|e| Error::InvalidDocument(format!("order summary not serialisable: {e}")))?;
        let (x, y, z) = unit_vector(s.lat, s.lon);
        Ok(Row {
            status: s.status.as_str().to_owned(),
            priority_rank: s.priority.rank(),
            assignee: s.assignee.map(|u| u.to_string()),
            window_start_ms: s.window_start_ms,
            window_end_ms: s.window_end_ms,
            sla_due_ms: s.sla_due_ms,
            lat: s.lat,
            lon: s.lon,
            x,
            y,
            z,
            number: s.number,
            customer_name: s.customer_name,
            site_address: s.site_address,
            asset_serial: s.asset_serial,
            asset_model,
            problem: s.problem,
            summary,
        })
    }
}

/// Insert or refresh the query row of document `key`. An upsert (never `INSERT OR REPLACE`,
/// whose implicit delete would bypass the search-index triggers).
pub(crate) fn write_row(conn: &Connection, key: i64, doc: &WorkOrderDoc) -> Result<()> {
    let r = Row::of(doc)?;
    conn.prepare_cached(
        "INSERT INTO orders (doc, status, priority_rank, assignee, window_start_ms,
             window_end_ms, sla_due_ms, lat, lon, x, y, z, number, customer_name, site_address,
             asset_serial, asset_model, problem, summary)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
             ?19)
         ON CONFLICT (doc) DO UPDATE SET
             status = excluded.status, priority_rank = excluded.priority_rank,
             assignee = excluded.assignee, window_start_ms = excluded.window_start_ms,
             window_end_ms = excluded.window_end_ms, sla_due_ms = excluded.sla_due_ms,
             lat = excluded.lat, lon = excluded.lon, x = excluded.x, y = excluded.y,
             z = excluded.z, number = excluded.number, customer_name = excluded.customer_name,
             site_address = excluded.site_address, asset_serial = excluded.asset_serial,
             asset_model = excluded.asset_model, problem = excluded.problem,
             summary = excluded.summary",
    )?
    .execute(params![
        key,
        r.status,
        r.priority_rank,
        r.assignee,
        r.window_start_ms,
        r.window_end_ms,
        r.sla_due_ms,
        r.lat,
        r.lon,
        r.x,
        r.y,
        r.z,
        r.number,
        r.customer_name,
        r.site_address,
        r.asset_serial,
        r.asset_model,
        r.problem,
        r.summary,
    ])?;
    Ok(())
}

/// Whether the stored row of `key` is exactly what this build would write for `doc`.
pub(crate) fn row_is_current(conn: &Connection, key: i64, doc: &WorkOrderDoc) -> Result<bool> {
    let stored = conn
        .prepare_cached(
            "SELECT status, priority_rank, assignee, window_start_ms, window_end_ms, sla_due_ms,
                 lat, lon, x, y, z, number, customer_name, site_address, asset_serial,
                 asset_model, problem, summary
             FROM orders WHERE doc = ?1",
        )?
        .query_row([key], |r| {
            Ok(Row {
                status: r.get(0)?,
                priority_rank: r.get(1)?,
                assignee: r.get(2)?,
                window_start_ms: r.get(3)?,
                window_end_ms: r.get(4)?,
                sla_due_ms: r.get(5)?,
                lat: r.get(6)?,
                lon: r.get(7)?,
                x: r.get(8)?,
                y: r.get(9)?,
                z: r.get(10)?,
                number: r.get(11)?,
                customer_name: r.get(12)?,
                site_address: r.get(13)?,
                asset_serial: r.get(14)?,
                asset_model: r.get(15)?,
                problem: r.get(16)?,
                summary: r.get(17)?,
            })
        })
        .optional()?;
    Ok(stored == Some(Row::of(doc)?))
}

/// Numbered SQL parameters, so that one value can be used twice.
#[derive(Default)]
struct Params(Vec<Value>);

impl Params {
    fn bind(&mut self, v: impl Into<Value>) -> String {
        self.0.push(v.into());
        format!("?{}", self.0.len())
    }
}

fn limit_of(limit: u32) -> i64 {
    if limit == 0 { -1 } else { i64::from(limit) }
}

/// The SQL and parameters of a listing (separate, so the query-plan test can inspect it).
pub(crate) fn list_sql(q: &ListQuery) -> (String, Vec<Value>) {
    let mut p = Params::default();
    let mut wh: Vec<String> = Vec::new();
    if let Some(statuses) = &q.status {
        let list: Vec<String> = statuses
            .iter()
            .map(|s| p.bind(s.as_str().to_owned()))
            .collect();
        wh.push(format!("status IN ({})", list.join(", ")));
    }
    if let Some(a) = q.assignee {
        wh.push(format!("assignee = {}", p.bind(a.to_string())));
    }
    if q.from_ms.is_some() || q.to_ms.is_some() {
        // Redundant with the bounds below for any order that has a window, but it spells out the
        // leading expression of orders_by_schedule, so SQLite can search that index.
        wh.push("(window_start_ms IS NULL) = 0".to_owned());
    }
    if let Some(from) = q.from_ms {
        wh.push(format!(
            "coalesce(window_end_ms, window_start_ms) >= {}",
            p.bind(from)
        ));
    }
    if let Some(to) = q.to_ms {
        wh.push(format!("window_start_ms <= {}", p.bind(to)));
    }
    // Each ORDER BY repeats its index's expressions exactly, so SQLite walks the index instead of
    // sorting; `doc` (the rowid, implicitly last in every index) makes the order total.
    let order = match q.sort {
        Sort::Schedule => "window_start_ms IS NULL, window_start_ms, doc".to_owned(),
        Sort::Priority => "priority_rank DESC, sla_due_ms IS NULL, sla_due_ms, doc".to_owned(),
        Sort::Sla => "sla_due_ms IS NULL, sla_due_ms, doc".to_owned(),
        Sort::DistanceFrom { lat, lon } => {
            let (x, y, z) = unit_vector(finite(lat), finite(lon));
            let (x, y, z) = (p.bind(x), p.bind(y), p.bind(z));
            format!("(x - {x}) * (x - {x}) + (y - {y}) * (y - {y}) + (z - {z}) * (z - {z}), doc")
        }
    };
    let filter = if wh.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", wh.join(" AND "))
    };
    let limit = p.bind(limit_of(q.limit));
    let offset = p.bind(i64::from(q.offset));
    let sql = format!(
        "SELECT summary FROM orders{filter} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
    );
    (sql, p.0)
}

/// Run a listing.
pub(crate) fn list(conn: &Connection, q: &ListQuery) -> Result<Vec<OrderSummary>> {
    let (sql, params) = list_sql(q);
    summaries(conn, &sql, params)
}

/// Searchable text, for the LIKE fallback; the unit separator keeps a match inside one field.
const SEARCH_TEXT: &str = "(o.number || char(31) || o.customer_name || char(31) || \
     o.site_address || char(31) || o.asset_serial || char(31) || o.asset_model || char(31) || \
     o.problem)";

/// Full-text search. Every whitespace-separated word must occur (as a substring, ignoring case
/// and diacritics) in one of number, customer, site address, asset serial or model, problem.
/// Words of three or more characters go to the trigram FTS index and rank by bm25; shorter words
/// (trigrams cannot match them, and two characters are a whole word in Chinese) filter the FTS
/// hits, or the query table if every word is short, with LIKE. Words are quoted, so FTS syntax in
/// the user's text is just text.
pub(crate) fn search(conn: &Connection, text: &str, limit: u32) -> Result<Vec<OrderSummary>> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let (long, short): (Vec<&str>, Vec<&str>) =
        words.into_iter().partition(|w| w.chars().count() >= 3);
    let mut p = Params::default();
    let mut wh: Vec<String> = Vec::new();
    let from = if long.is_empty() {
        "orders o"
    } else {
        let fts: Vec<String> = long
            .iter()
            .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
            .collect();
        wh.push(format!("orders_fts MATCH {}", p.bind(fts.join(" "))));
        "orders_fts JOIN orders o ON o.doc = orders_fts.rowid"
    };
    for w in &short {
        let pattern = format!(
            "%{}%",
            w.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        wh.push(format!(
            "{SEARCH_TEXT} LIKE {} ESCAPE '\\'",
            p.bind(pattern)
        ));
    }
    let order = if long.is_empty() {
        "o.number, o.doc"
    } else {
        "orders_fts.rank, o.doc"
    };
    let limit = p.bind(limit_of(limit));
    let sql = format!(
        "SELECT o.summary FROM {from} WHERE {} ORDER BY {order} LIMIT {limit}",
        wh.join(" AND ")
    );
    summaries(conn, &sql, p.0)
}

fn summaries(conn: &Connection, sql: &str, params: Vec<Value>) -> Result<Vec<OrderSummary>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt
        .query_map(params_from_iter(params), |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.iter()
        .map(|json| {
            // The serde message could quote stored text; say where, not what.
            serde_json::from_str(json).map_err(|e| {
                Error::InvalidDocument(format!(
                    "a stored order summary does not match this build (line {}, column {}); \
                     reopening the store rebuilds it",
                    e.line(),
                    e.column()
                ))
            })
        })
        .collect()
}
