//! Catalog CSV import and export.
//!
//! An import is a job (`import_jobs`) the client polls for progress. The CSV is parsed and
//! every row checked first (in memory: a 50,000-row file takes well under a second); the
//! good rows are then staged in batches (`import_rows`, each batch a short transaction that
//! also advances the job's `processed`), and finally applied to the catalog in one statement
//! under the write lock, so the import never holds the lock that every sync needs for longer
//! than that statement. Bad rows are kept in `import_errors` with their line number and reason.
//!
//! Modes: `all_or_nothing` imports nothing if any row is bad (the job fails, listing every bad
//! row); `skip_bad_rows` imports the good rows and lists the bad ones. A header that is
//! missing a required column or names an unknown one refuses the file at once (422
//! `csv_invalid`, no job).
//!
//! Columns (header names, any order, case-insensitive): `sku`, `name`, `unit` (required),
//! `description`, `unit_cost` (a decimal in major currency units, e.g. `12.50`), `category`,
//! `serial_tracked` (true/false, yes/no, 1/0), `compatible_models` (separated by `|` or `;`),
//! `reorder_point` and `reorder_qty` (whole minor units, at the job's location). An existing
//! SKU is updated; its unit or serial tracking may change only while no location holds it.

use super::catalog::{self, NewPart, Part};
use super::ledger::Writer;
use super::locations::{self, LocationKind};
use super::{Actor, InvError, Result};
use crate::db::Db;
use crate::now_ms;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;
use sync_core::{OrgId, Role, UserId};
use utoipa::ToSchema;

/// Rows staged per transaction (and per progress step).
const BATCH: usize = 500;
/// Rows per INSERT statement (13 parameters each).
const ROWS_PER_STATEMENT: usize = 100;
/// A running job whose progress has not moved for this long was interrupted (the server
/// stopped): it reads as failed.
const STALE_MS: i64 = 120_000;

const COLUMNS: [&str; 10] = [
    "sku",
    "name",
    "description",
    "unit",
    "unit_cost",
    "category",
    "serial_tracked",
    "compatible_models",
    "reorder_point",
    "reorder_qty",
];
const REQUIRED: [&str; 3] = ["sku", "name", "unit"];

/// Import all rows or none, or the good rows only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    AllOrNothing,
    SkipBadRows,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::AllOrNothing => "all_or_nothing",
            Mode::SkipBadRows => "skip_bad_rows",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "all_or_nothing" => Some(Mode::AllOrNothing),
            "skip_bad_rows" => Some(Mode::SkipBadRows),
            _ => None,
        }
    }
}

/// One row of the file, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct CsvRow {
    pub line: i64,
    pub part: NewPart,
    pub reorder: Option<(i64, i64)>,
}

/// A bad row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RowError {
    /// Line number in the file (the header is line 1).
    pub line: i64,
    pub reason: String,
}

/// A parsed file.
#[derive(Clone, Debug, Default)]
pub struct Parsed {
    pub rows: Vec<CsvRow>,
    pub errors: Vec<RowError>,
    /// Data records in the file (good and bad).
    pub records: usize,
}

/// Parse and check a catalog CSV. `Err` (422 `csv_invalid`) for a file that cannot be read as
/// a catalog at all; bad rows are collected in `errors`.
pub fn parse(bytes: &[u8]) -> Result<Parsed> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let header = reader
        .byte_headers()
        .map_err(|e| InvError::Csv(format!("cannot read the header line: {e}")))?
        .clone();
    if header.is_empty() || header.iter().all(|h| h.is_empty()) {
        return Err(InvError::Csv(
            "the file is empty: a header line is required".into(),
        ));
    }
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut unknown = Vec::new();
    for (i, h) in header.iter().enumerate() {
        let name = String::from_utf8_lossy(h).trim().to_lowercase();
        match COLUMNS.iter().find(|c| **c == name) {
            Some(c) => {
                if index.insert(c, i).is_some() {
                    return Err(InvError::Csv(format!("column {name:?} appears twice")));
                }
            }
            None => unknown.push(name),
        }
    }
    if !unknown.is_empty() {
        return Err(InvError::Csv(format!(
            "unknown column(s) {}; the columns are {}",
            unknown.join(", "),
            COLUMNS.join(", ")
        )));
    }
    let missing: Vec<&str> = REQUIRED
        .iter()
        .filter(|c| !index.contains_key(*c))
        .copied()
        .collect();
    if !missing.is_empty() {
        return Err(InvError::Csv(format!(
            "missing required column(s): {}",
            missing.join(", ")
        )));
    }
    let mut out = Parsed::default();
    let mut first_line: HashMap<String, i64> = HashMap::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let line = reader.position().line() as i64;
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(line, |p| p.line() as i64);
                out.records += 1;
                out.errors.push(RowError {
                    line,
                    reason: format!("unreadable row: {e}"),
                });
                continue;
            }
        }
        let line = record
            .position()
            .map_or(line, |p| true_line(bytes, p.byte(), p.line()));
        if record.iter().all(|f| f.is_empty()) {
            continue; // blank line
        }
        out.records += 1;
        match row(&record, &index, header.len()) {
            Ok((part, reorder)) => match first_line.get(&part.sku) {
                Some(first) => out.errors.push(RowError {
                    line,
                    reason: format!("SKU {} appears already on line {first}", part.sku),
                }),
                None => {
                    first_line.insert(part.sku.clone(), line);
                    out.rows.push(CsvRow {
                        line,
                        part,
                        reorder,
                    });
                }
            },
            Err(reason) => out.errors.push(RowError { line, reason }),
        }
    }
    Ok(out)
}

/// The line a record really starts on. The reader reports a record that follows blank lines
/// at the first blank line (it skips them as part of the record): step over them.
fn true_line(bytes: &[u8], mut at: u64, line: u64) -> i64 {
    let mut line = line as i64;
    while let Some(&c) = bytes.get(at as usize) {
        match c {
            b'\n' => line += 1,
            b'\r' => {}
            _ => break,
        }
        at += 1;
    }
    line
}

fn row(
    record: &csv::ByteRecord,
    index: &HashMap<&str, usize>,
    width: usize,
) -> std::result::Result<(NewPart, Option<(i64, i64)>), String> {
    if record.len() != width {
        return Err(format!(
            "expected {width} fields like the header, found {}",
            record.len()
        ));
    }
    let field = |name: &str| -> std::result::Result<String, String> {
        match index.get(name) {
            None => Ok(String::new()),
            Some(&i) => std::str::from_utf8(record.get(i).unwrap_or_default())
                .map(str::to_owned)
                .map_err(|_| format!("{name} is not valid UTF-8")),
        }
    };
    let unit_cost = parse_money(&field("unit_cost")?).map_err(|e| format!("unit_cost: {e}"))?;
    let serial_tracked = match field("serial_tracked")?.to_lowercase().as_str() {
        "" | "false" | "no" | "n" | "0" => false,
        "true" | "yes" | "y" | "1" => true,
        other => return Err(format!("serial_tracked: {other:?} is not true or false")),
    };
    let models = field("compatible_models")?
        .split(['|', ';'])
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .collect();
    let part = catalog::validate(&NewPart {
        sku: field("sku")?,
        name: field("name")?,
        description: field("description")?,
        unit: field("unit")?,
        unit_cost_minor: unit_cost,
        category: field("category")?,
        serial_tracked,
        compatible_models: models,
    })
    .map_err(|e| e.to_string())?;
    let whole = |name: &str| -> std::result::Result<Option<i64>, String> {
        let v = field(name)?;
        if v.is_empty() {
            return Ok(None);
        }
        match v.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(Some(n)),
            _ => Err(format!("{name}: {v:?} is not a whole number >= 0")),
        }
    };
    let reorder = match (whole("reorder_point")?, whole("reorder_qty")?) {
        (None, None) => None,
        (Some(p), q) => Some((p, q.unwrap_or(0))),
        (None, Some(_)) => return Err("reorder_qty without reorder_point".into()),
    };
    Ok((part, reorder))
}

/// A decimal amount in major units (`12`, `12.5`, `12.50`) as minor units (two decimals).
pub fn parse_money(s: &str) -> std::result::Result<i64, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(0);
    }
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |d: &str| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit());
    if !digits(whole) || !(frac.is_empty() || digits(frac)) || frac.len() > 2 {
        return Err(format!(
            "{s:?} is not an amount >= 0 with at most two decimals"
        ));
    }
    let whole: i64 = whole.parse().map_err(|_| format!("{s:?} is too large"))?;
    let frac: i64 = format!("{frac:0<2}").parse().unwrap_or(0);
    whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(frac))
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// Minor units as a decimal amount in major units (`1250` -> `12.50`).
pub fn format_money(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

/// An import job, as the client polls it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImportJob {
    pub id: String,
    pub mode: Mode,
    /// running, done or failed.
    pub status: String,
    /// Where reorder levels of the file apply.
    pub location_id: Option<String>,
    /// Data rows in the file.
    pub total: i64,
    /// Rows checked and staged so far (progress: processed / total).
    pub processed: i64,
    /// Parts created or updated (when done).
    pub imported: i64,
    /// Bad rows (every one listed at `/errors`).
    pub error_count: i64,
    pub message: String,
    pub created_by: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub finished_at_ms: Option<i64>,
    /// The first bad rows (up to 100).
    pub errors: Vec<RowError>,
}

impl ImportJob {
    fn from_row(r: &AnyRow) -> Result<ImportJob> {
        let mode: String = r.try_get("mode")?;
        let mut status: String = r.try_get("status")?;
        let updated: i64 = r.try_get("updated_at")?;
        let mut message: String = r.try_get("message")?;
        if status == "running" && now_ms() - updated > STALE_MS {
            status = "failed".into();
            message = "interrupted (the server stopped): nothing was imported; run it again".into();
        }
        Ok(ImportJob {
            id: r.try_get("id")?,
            mode: Mode::parse(&mode).unwrap_or(Mode::AllOrNothing),
            status,
            location_id: r.try_get("location_id")?,
            total: r.try_get("total")?,
            processed: r.try_get("processed")?,
            imported: r.try_get("imported")?,
            error_count: r.try_get("error_count")?,
            message,
            created_by: r.try_get("created_by")?,
            created_at_ms: r.try_get("created_at")?,
            updated_at_ms: updated,
            finished_at_ms: r.try_get("finished_at")?,
            errors: Vec::new(),
        })
    }
}

/// A job with its first errors.
pub async fn get(conn: &mut AnyConnection, org: OrgId, id: &str) -> Result<Option<ImportJob>> {
    let row = sqlx::query(
        "SELECT id, mode, status, location_id, total, processed, imported, error_count, message, \
         created_by, created_at, updated_at, finished_at FROM import_jobs \
         WHERE org_id = $1 AND id = $2",
    )
    .bind(org.to_string())
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let mut job = ImportJob::from_row(&row)?;
    job.errors = errors(conn, org, id, 100, 0).await?;
    Ok(Some(job))
}

/// Bad rows of a job by line number.
pub async fn errors(
    conn: &mut AnyConnection,
    org: OrgId,
    job: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<RowError>> {
    let rows: Vec<(i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT line, reason FROM import_errors WHERE org_id = $1 AND job_id = $2 \
         ORDER BY line LIMIT {} OFFSET {}",
        limit.clamp(1, 10_000),
        offset.max(0)
    )))
    .bind(org.to_string())
    .bind(job)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(line, reason)| RowError { line, reason })
        .collect())
}

/// Start an import: check the header (422 `csv_invalid`), record the job, and run it in the
/// background. Returns the job as it starts.
pub async fn start(
    db: &Db,
    org: OrgId,
    user: UserId,
    mode: Mode,
    location: Option<&str>,
    bytes: Vec<u8>,
) -> Result<ImportJob> {
    let parsed = tokio::task::spawn_blocking(move || parse(&bytes))
        .await
        .map_err(|e| InvError::Invalid(format!("the import stopped: {e}")))??;
    let mut conn = db.pool().acquire().await?;
    let needs_location = parsed.rows.iter().any(|r| r.reorder.is_some());
    let location = match location.filter(|l| !l.trim().is_empty()) {
        Some(l) => Some(locations::resolve(&mut conn, org, l).await?),
        None if needs_location => Some(
            locations::the_only(
                &mut conn,
                org,
                LocationKind::Warehouse,
                "location (for the \
                                reorder levels)",
            )
            .await?,
        ),
        None => None,
    };
    drop(conn);
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO import_jobs (org_id, id, mode, status, location_id, total, processed, \
         imported, error_count, message, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, 'running', $4, $5, 0, 0, $6, 'checking rows', $7, $8, $8)",
    )
    .bind(org.to_string())
    .bind(&id)
    .bind(mode.as_str())
    .bind(location.as_ref().map(|l| l.id.clone()))
    .bind(parsed.records as i64)
    .bind(parsed.errors.len() as i64)
    .bind(user.to_string())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    insert_errors(&mut tx, org, &id, &parsed.errors).await?;
    tx.commit().await?;
    let job = {
        let mut conn = db.pool().acquire().await?;
        get(&mut conn, org, &id)
            .await?
            .ok_or(InvError::NotFound("import job"))?
    };
    let db = db.clone();
    let job_id = id.clone();
    tokio::spawn(async move {
        if let Err(e) = run(&db, org, user, &job_id, mode, parsed).await {
            tracing::error!(error = %e, job = %job_id, "catalog import failed");
            let _ = finish(&db, org, &job_id, "failed", 0, &format!("failed: {e}")).await;
        }
    });
    Ok(job)
}

async fn insert_errors(
    tx: &mut AnyConnection,
    org: OrgId,
    job: &str,
    errors: &[RowError],
) -> Result<()> {
    for chunk in errors.chunks(ROWS_PER_STATEMENT * 3) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("($1, $2, ${}, ${})", 3 + 2 * i, 4 + 2 * i))
            .collect();
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO import_errors (org_id, job_id, line, reason) VALUES {} \
             ON CONFLICT (org_id, job_id, line) DO NOTHING",
            values.join(", ")
        )))
        .bind(org.to_string())
        .bind(job);
        for e in chunk {
            q = q.bind(e.line).bind(e.reason.clone());
        }
        q.execute(&mut *tx).await?;
    }
    Ok(())
}

async fn finish(
    db: &Db,
    org: OrgId,
    job: &str,
    status: &str,
    imported: i64,
    message: &str,
) -> Result<()> {
    let now = now_ms();
    let mut tx = db.begin().await?;
    sqlx::query(
        "UPDATE import_jobs SET status = $3, imported = $4, message = $5, updated_at = $6, \
         finished_at = $6, error_count = (SELECT COUNT(*) FROM import_errors e \
         WHERE e.org_id = $1 AND e.job_id = $2) WHERE org_id = $1 AND id = $2",
    )
    .bind(org.to_string())
    .bind(job)
    .bind(status)
    .bind(imported)
    .bind(message)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM import_rows WHERE org_id = $1 AND job_id = $2")
        .bind(org.to_string())
        .bind(job)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Stage the rows batch by batch (progress), then apply them in one statement.
async fn run(
    db: &Db,
    org: OrgId,
    user: UserId,
    job: &str,
    mode: Mode,
    parsed: Parsed,
) -> Result<()> {
    if mode == Mode::AllOrNothing && !parsed.errors.is_empty() {
        let n = parsed.errors.len();
        finish(
            db,
            org,
            job,
            "failed",
            0,
            &format!("{n} bad row(s): nothing was imported"),
        )
        .await?;
        return Ok(());
    }
    let mut processed = parsed.errors.len() as i64;
    for batch in parsed.rows.chunks(BATCH) {
        let mut tx = db.begin().await?;
        for chunk in batch.chunks(ROWS_PER_STATEMENT) {
            stage(&mut tx, org, job, chunk).await?;
        }
        processed += batch.len() as i64;
        sqlx::query(
            "UPDATE import_jobs SET processed = $3, updated_at = $4, message = 'staging rows' \
             WHERE org_id = $1 AND id = $2",
        )
        .bind(org.to_string())
        .bind(job)
        .bind(processed)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    let (status, imported, message) = apply(db, org, user, job, mode).await?;
    finish(db, org, job, status, imported, &message).await
}

async fn stage(tx: &mut AnyConnection, org: OrgId, job: &str, rows: &[CsvRow]) -> Result<()> {
    const N: usize = 11;
    let values: Vec<String> = (0..rows.len())
        .map(|i| {
            let cols: Vec<String> = (0..N).map(|c| format!("${}", 3 + i * N + c)).collect();
            format!("($1, $2, {})", cols.join(", "))
        })
        .collect();
    let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO import_rows (org_id, job_id, line, sku, name, description, unit, unit_cost, \
         category, serial_tracked, compatible_models, reorder_point, reorder_qty) VALUES {}",
        values.join(", ")
    )))
    .bind(org.to_string())
    .bind(job);
    for r in rows {
        q = q
            .bind(r.line)
            .bind(r.part.sku.clone())
            .bind(r.part.name.clone())
            .bind(r.part.description.clone())
            .bind(r.part.unit.clone())
            .bind(r.part.unit_cost_minor)
            .bind(r.part.category.clone())
            .bind(i64::from(r.part.serial_tracked))
            .bind(catalog::models_json(&r.part.compatible_models))
            .bind(r.reorder.map(|x| x.0))
            .bind(r.reorder.map(|x| x.1));
    }
    q.execute(tx).await?;
    Ok(())
}

/// Apply the staged rows under the write lock: refuse those that would change the unit or
/// serial tracking of a part in stock, then upsert the rest and their reorder levels.
async fn apply(
    db: &Db,
    org: OrgId,
    user: UserId,
    job: &str,
    mode: Mode,
) -> Result<(&'static str, i64, String)> {
    let mut tx = db.begin().await?;
    let w = Writer::begin(&mut tx, org, Actor::user(user, Role::Warehouse)).await?;
    let location: Option<String> =
        sqlx::query_scalar("SELECT location_id FROM import_jobs WHERE org_id = $1 AND id = $2")
            .bind(org.to_string())
            .bind(job)
            .fetch_one(&mut *tx)
            .await?;
    let blocked: Vec<(i64, String)> = sqlx::query_as(
        "SELECT r.line, r.sku FROM import_rows r \
         JOIN parts p ON p.org_id = r.org_id AND p.sku = r.sku \
         WHERE r.org_id = $1 AND r.job_id = $2 \
         AND (p.unit <> r.unit OR p.serial_tracked <> r.serial_tracked) \
         AND EXISTS (SELECT 1 FROM stock_balances b WHERE b.org_id = p.org_id \
             AND b.sku = p.sku AND (b.qty <> 0 OR b.defective <> 0 OR b.reserved <> 0)) \
         ORDER BY r.line",
    )
    .bind(org.to_string())
    .bind(job)
    .fetch_all(&mut *tx)
    .await?;
    let blocked: Vec<RowError> = blocked
        .into_iter()
        .map(|(line, sku)| RowError {
            line,
            reason: format!(
                "{sku} is in stock: its unit and serial tracking cannot change until no \
                 location holds it"
            ),
        })
        .collect();
    if !blocked.is_empty() {
        if mode == Mode::AllOrNothing {
            drop(tx); // rolls back
            let mut tx = db.begin().await?;
            insert_errors(&mut tx, org, job, &blocked).await?;
            tx.commit().await?;
            return Ok((
                "failed",
                0,
                format!("{} bad row(s): nothing was imported", blocked.len()),
            ));
        }
        insert_errors(&mut tx, org, job, &blocked).await?;
        for b in &blocked {
            sqlx::query("DELETE FROM import_rows WHERE org_id = $1 AND job_id = $2 AND line = $3")
                .bind(org.to_string())
                .bind(job)
                .bind(b.line)
                .execute(&mut *tx)
                .await?;
        }
    }
    let now = now_ms();
    // A WHERE clause keeps SQLite from reading ON CONFLICT as a join constraint.
    let imported = sqlx::query(
        "INSERT INTO parts (org_id, sku, name, description, unit, unit_cost, category, \
         serial_tracked, compatible_models, withdrawn, seq, created_at, updated_at) \
         SELECT org_id, sku, name, description, unit, unit_cost, category, serial_tracked, \
         compatible_models, 0, $3, $4, $4 FROM import_rows \
         WHERE org_id = $1 AND job_id = $2 AND 1 = 1 \
         ON CONFLICT (org_id, sku) DO UPDATE SET name = excluded.name, \
         description = excluded.description, unit = excluded.unit, \
         unit_cost = excluded.unit_cost, category = excluded.category, \
         serial_tracked = excluded.serial_tracked, \
         compatible_models = excluded.compatible_models, withdrawn = 0, seq = excluded.seq, \
         updated_at = excluded.updated_at",
    )
    .bind(org.to_string())
    .bind(job)
    .bind(w.seq)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected() as i64;
    if let Some(location) = location {
        sqlx::query(
            "INSERT INTO stock_levels (org_id, location_id, sku, reorder_point, reorder_qty) \
             SELECT org_id, $3, sku, reorder_point, reorder_qty FROM import_rows \
             WHERE org_id = $1 AND job_id = $2 AND reorder_point IS NOT NULL \
             ON CONFLICT (org_id, location_id, sku) DO UPDATE SET \
             reorder_point = excluded.reorder_point, reorder_qty = excluded.reorder_qty",
        )
        .bind(org.to_string())
        .bind(job)
        .bind(location)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    let bad = blocked.len();
    let message = if bad == 0 {
        format!("{imported} part(s) imported")
    } else {
        format!("{imported} part(s) imported, {bad} more bad row(s) skipped")
    };
    Ok(("done", imported, message))
}

/// The catalog (parts not withdrawn) as CSV, with the reorder levels at `location` if given:
/// the import's format, so an export imports back unchanged.
pub async fn export(
    conn: &mut AnyConnection,
    org: OrgId,
    location: Option<&str>,
) -> Result<Vec<u8>> {
    let loc = match location.filter(|l| !l.trim().is_empty()) {
        Some(l) => Some(locations::resolve(conn, org, l).await?),
        None => None,
    };
    let parts = catalog::all_with_levels(conn, org, loc.as_ref().map(|l| l.id.as_str())).await?;
    let mut w = csv::Writer::from_writer(Vec::with_capacity(parts.len() * 120));
    let csv_err = |e: csv::Error| InvError::Invalid(format!("cannot write CSV: {e}"));
    w.write_record(COLUMNS).map_err(csv_err)?;
    for (p, level) in parts.iter().filter(|(p, _)| !p.withdrawn) {
        w.write_record(export_record(p, *level)).map_err(csv_err)?;
    }
    w.into_inner()
        .map_err(|e| InvError::Invalid(format!("cannot write CSV: {e}")))
}

fn export_record(p: &Part, level: Option<(i64, i64)>) -> [String; 10] {
    [
        p.sku.clone(),
        p.name.clone(),
        p.description.clone(),
        p.unit.clone(),
        format_money(p.unit_cost_minor),
        p.category.clone(),
        p.serial_tracked.to_string(),
        p.compatible_models.join("|"),
        level.map(|l| l.0.to_string()).unwrap_or_default(),
        level.map(|l| l.1.to_string()).unwrap_or_default(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_parses_and_formats_in_minor_units() {
        assert_eq!(parse_money("12").unwrap(), 1200);
        assert_eq!(parse_money("12.5").unwrap(), 1250);
        assert_eq!(parse_money("0.07").unwrap(), 7);
        assert_eq!(parse_money("").unwrap(), 0);
        for bad in ["-1", "1.234", "1,5", "abc", ".5", "99999999999999999999"] {
            assert!(parse_money(bad).is_err(), "{bad}");
        }
        assert_eq!(format_money(1250), "12.50");
        assert_eq!(format_money(7), "0.07");
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line() {
        let csv = "\u{feff}SKU,name,unit,unit_cost,serial_tracked,compatible_models\n\
                   CAP-1,Capacitor,pcs,1.50,no,Carrier 30XA|Daikin VRV\n\
                   ,No sku,pcs,1,no,\n\
                   CAP-2,Bad unit,furlong,1,no,\n\
                   CAP-3,Bad cost,pcs,1.999,no,\n\
                   \n\
                   CAP-1,Duplicate,pcs,1,no,\n\
                   CAP-4,\"Multi\nline name\",pcs,2,yes,\n\
                   CAP-5,Too,many,fields,here,x,y\n\
                   CAP-6,Bad flag,pcs,1,maybe,\n";
        let p = parse(csv.as_bytes()).unwrap();
        assert_eq!(p.records, 8);
        let good: Vec<&str> = p.rows.iter().map(|r| r.part.sku.as_str()).collect();
        assert_eq!(good, ["CAP-1", "CAP-4"]);
        assert_eq!(p.rows[0].part.unit_cost_minor, 150);
        assert_eq!(
            p.rows[0].part.compatible_models,
            ["Carrier 30XA", "Daikin VRV"]
        );
        assert!(p.rows[1].part.serial_tracked);
        let lines: Vec<i64> = p.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 4, 5, 7, 10, 11], "{:?}", p.errors);
        assert!(p.errors[3].reason.contains("line 2"), "{:?}", p.errors[3]);
        assert!(p.errors[1].reason.contains("unknown unit"));
    }

    #[test]
    fn a_file_that_is_no_catalog_is_refused_whole() {
        for (csv, says) in [
            ("", "empty"),
            ("sku,name\nA,B\n", "missing required column(s): unit"),
            ("sku,name,unit,colour\n", "unknown column(s) colour"),
            ("sku,name,unit,SKU\n", "appears twice"),
        ] {
            match parse(csv.as_bytes()) {
                Err(InvError::Csv(m)) => assert!(m.contains(says), "{m}"),
                other => panic!("{csv:?}: {other:?}"),
            }
        }
    }
}
