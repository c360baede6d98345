//! The parts catalog: one row per SKU and organisation. Each write stamps the row with the
//! transaction's change sequence number (`seq`), which is how phones receive catalog deltas. A
//! part is never deleted, only withdrawn: the ledger refers to it.

use super::{InvError, Result, UNITS, bool_of, check_sku, minor_per_unit};
use crate::now_ms;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use sync_core::OrgId;
use utoipa::ToSchema;

const COLUMNS: &str = "sku, name, description, unit, unit_cost, category, serial_tracked, \
                       compatible_models, withdrawn, seq, created_at, updated_at";

/// A part of the catalog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Part {
    pub sku: String,
    pub name: String,
    pub description: String,
    /// pcs, pair, set, box, roll, m, l or kg.
    pub unit: String,
    /// Quantities of this part are integers in 1/`minor_per_unit` of the unit (1000 for m, l,
    /// kg: millimetres, millilitres, grams).
    pub minor_per_unit: i64,
    /// Cost of one unit in minor currency units (fen, cents).
    pub unit_cost_minor: i64,
    pub category: String,
    /// Each unit has a serial number, recorded on every movement.
    pub serial_tracked: bool,
    /// Asset models the part fits.
    pub compatible_models: Vec<String>,
    /// Withdrawn from the catalog: kept for the ledger, hidden from phones.
    pub withdrawn: bool,
    /// Change sequence number of the last write.
    pub seq: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl Part {
    pub(crate) fn from_row(r: &AnyRow) -> Result<Part> {
        let unit: String = r.try_get("unit")?;
        let models: String = r.try_get("compatible_models")?;
        Ok(Part {
            sku: r.try_get("sku")?,
            name: r.try_get("name")?,
            description: r.try_get("description")?,
            minor_per_unit: minor_per_unit(&unit).unwrap_or(1),
            unit,
            unit_cost_minor: r.try_get("unit_cost")?,
            category: r.try_get("category")?,
            serial_tracked: bool_of(r.try_get("serial_tracked")?),
            compatible_models: serde_json::from_str(&models).unwrap_or_default(),
            withdrawn: bool_of(r.try_get("withdrawn")?),
            seq: r.try_get("seq")?,
            created_at_ms: r.try_get("created_at")?,
            updated_at_ms: r.try_get("updated_at")?,
        })
    }

    /// The part as a phone sees it.
    pub fn to_reference(&self) -> sync_core::protocol::reference::CatalogItem {
        sync_core::protocol::reference::CatalogItem {
            sku: self.sku.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            unit: self.unit.clone(),
            unit_cost_minor: self.unit_cost_minor,
            category: self.category.clone(),
            serial_tracked: self.serial_tracked,
            compatible_models: self.compatible_models.clone(),
            deleted: self.withdrawn,
        }
    }
}

/// A new part.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NewPart {
    pub sku: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// pcs, pair, set, box, roll, m, l or kg.
    pub unit: String,
    #[serde(default)]
    pub unit_cost_minor: i64,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub serial_tracked: bool,
    #[serde(default)]
    pub compatible_models: Vec<String>,
}

/// A change to a part; absent fields stay as they are.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct PartPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub unit: Option<String>,
    pub unit_cost_minor: Option<i64>,
    pub category: Option<String>,
    pub serial_tracked: Option<bool>,
    pub compatible_models: Option<Vec<String>>,
    /// false puts a withdrawn part back in the catalog.
    pub withdrawn: Option<bool>,
}

/// Longest name; descriptions may be longer.
const MAX_NAME: usize = 200;
const MAX_DESCRIPTION: usize = 2000;
const MAX_CATEGORY: usize = 100;
const MAX_MODELS: usize = 100;
const MAX_MODEL: usize = 100;

/// Check and normalise a new part (trimmed text, known unit, cost >= 0).
pub fn validate(p: &NewPart) -> Result<NewPart> {
    let sku = check_sku(&p.sku)?;
    let name = p.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(InvError::Invalid(format!(
            "a part's name is 1-{MAX_NAME} characters"
        )));
    }
    if p.description.chars().count() > MAX_DESCRIPTION {
        return Err(InvError::Invalid(format!(
            "a description is at most {MAX_DESCRIPTION} characters"
        )));
    }
    let unit = p.unit.trim();
    if minor_per_unit(unit).is_none() {
        let known: Vec<&str> = UNITS.iter().map(|(u, _)| *u).collect();
        return Err(InvError::Invalid(format!(
            "unknown unit {unit:?}; one of {}",
            known.join(", ")
        )));
    }
    if p.unit_cost_minor < 0 {
        return Err(InvError::Invalid("a unit cost cannot be negative".into()));
    }
    let category = p.category.trim();
    if category.chars().count() > MAX_CATEGORY {
        return Err(InvError::Invalid(format!(
            "a category is at most {MAX_CATEGORY} characters"
        )));
    }
    let mut models: Vec<String> = Vec::new();
    for m in &p.compatible_models {
        let m = m.trim();
        if m.is_empty() {
            continue;
        }
        if m.chars().count() > MAX_MODEL {
            return Err(InvError::Invalid(format!(
                "an asset model is at most {MAX_MODEL} characters"
            )));
        }
        if !models.iter().any(|x| x == m) {
            models.push(m.to_owned());
        }
    }
    if models.len() > MAX_MODELS {
        return Err(InvError::Invalid(format!(
            "at most {MAX_MODELS} compatible models"
        )));
    }
    Ok(NewPart {
        sku,
        name: name.to_owned(),
        description: p.description.trim().to_owned(),
        unit: unit.to_owned(),
        unit_cost_minor: p.unit_cost_minor,
        category: category.to_owned(),
        serial_tracked: p.serial_tracked,
        compatible_models: models,
    })
}

/// One part, withdrawn or not.
pub async fn get(conn: &mut AnyConnection, org: OrgId, sku: &str) -> Result<Option<Part>> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM parts WHERE org_id = $1 AND sku = $2"
    )))
    .bind(org.to_string())
    .bind(sku.trim())
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(Part::from_row).transpose()
}

/// One part, or `unknown_sku`.
pub async fn require(conn: &mut AnyConnection, org: OrgId, sku: &str) -> Result<Part> {
    get(conn, org, sku)
        .await?
        .ok_or_else(|| InvError::UnknownSku(sku.trim().to_owned()))
}

/// Add a part (409 `conflict` if the SKU exists, withdrawn or not). `seq` is the transaction's
/// change sequence number.
pub async fn create(tx: &mut AnyConnection, org: OrgId, seq: i64, part: &NewPart) -> Result<Part> {
    let p = validate(part)?;
    if get(tx, org, &p.sku).await?.is_some() {
        return Err(InvError::Conflict(format!("part {} already exists", p.sku)));
    }
    let now = now_ms();
    sqlx::query(
        "INSERT INTO parts (org_id, sku, name, description, unit, unit_cost, category, \
         serial_tracked, compatible_models, withdrawn, seq, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11, $11)",
    )
    .bind(org.to_string())
    .bind(&p.sku)
    .bind(&p.name)
    .bind(&p.description)
    .bind(&p.unit)
    .bind(p.unit_cost_minor)
    .bind(&p.category)
    .bind(i64::from(p.serial_tracked))
    .bind(models_json(&p.compatible_models))
    .bind(seq)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    require(tx, org, &p.sku).await
}

pub(crate) fn models_json(models: &[String]) -> String {
    serde_json::to_string(models).unwrap_or_else(|_| "[]".into())
}

/// Whether any location holds stock (good or defective) of `sku`, or has it reserved.
pub async fn has_stock(conn: &mut AnyConnection, org: OrgId, sku: &str) -> Result<bool> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM stock_balances WHERE org_id = $1 AND sku = $2 \
         AND (qty <> 0 OR defective <> 0 OR reserved <> 0) LIMIT 1",
    )
    .bind(org.to_string())
    .bind(sku)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

/// Change a part. Its unit and whether it is serial-tracked change only while no location
/// holds it (`stock_on_hand` otherwise): they decide what the stored quantities mean.
pub async fn update(
    tx: &mut AnyConnection,
    org: OrgId,
    seq: i64,
    sku: &str,
    patch: &PartPatch,
) -> Result<Part> {
    let current = get(tx, org, sku).await?.ok_or(InvError::NotFound("part"))?;
    let merged = NewPart {
        sku: current.sku.clone(),
        name: patch.name.clone().unwrap_or_else(|| current.name.clone()),
        description: patch
            .description
            .clone()
            .unwrap_or_else(|| current.description.clone()),
        unit: patch.unit.clone().unwrap_or_else(|| current.unit.clone()),
        unit_cost_minor: patch.unit_cost_minor.unwrap_or(current.unit_cost_minor),
        category: patch
            .category
            .clone()
            .unwrap_or_else(|| current.category.clone()),
        serial_tracked: patch.serial_tracked.unwrap_or(current.serial_tracked),
        compatible_models: patch
            .compatible_models
            .clone()
            .unwrap_or_else(|| current.compatible_models.clone()),
    };
    let p = validate(&merged)?;
    if (p.unit != current.unit || p.serial_tracked != current.serial_tracked)
        && has_stock(tx, org, &current.sku).await?
    {
        return Err(InvError::StockOnHand(format!(
            "{} is in stock: its unit and serial tracking cannot change until no location \
             holds it",
            current.sku
        )));
    }
    let withdrawn = patch.withdrawn.unwrap_or(current.withdrawn);
    if withdrawn && !current.withdrawn && has_stock(tx, org, &current.sku).await? {
        return Err(InvError::StockOnHand(format!(
            "{} is still in stock somewhere; move or adjust it out first",
            current.sku
        )));
    }
    sqlx::query(
        "UPDATE parts SET name = $3, description = $4, unit = $5, unit_cost = $6, category = $7, \
         serial_tracked = $8, compatible_models = $9, withdrawn = $10, seq = $11, \
         updated_at = $12 WHERE org_id = $1 AND sku = $2",
    )
    .bind(org.to_string())
    .bind(&current.sku)
    .bind(&p.name)
    .bind(&p.description)
    .bind(&p.unit)
    .bind(p.unit_cost_minor)
    .bind(&p.category)
    .bind(i64::from(p.serial_tracked))
    .bind(models_json(&p.compatible_models))
    .bind(i64::from(withdrawn))
    .bind(seq)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    require(tx, org, &current.sku).await
}

/// Withdraw a part from the catalog (phones drop it). Refused while any location holds it.
pub async fn withdraw(tx: &mut AnyConnection, org: OrgId, seq: i64, sku: &str) -> Result<Part> {
    update(
        tx,
        org,
        seq,
        sku,
        &PartPatch {
            withdrawn: Some(true),
            ..PartPatch::default()
        },
    )
    .await
}

/// Catalog search.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PartFilter {
    /// Words found in the SKU, name or description (case-insensitive).
    pub q: Option<String>,
    pub category: Option<String>,
    /// Parts that fit this asset model.
    pub model: Option<String>,
    pub serial_tracked: Option<bool>,
    /// Include withdrawn parts (default false).
    pub include_withdrawn: Option<bool>,
    /// At most this many items (default 100, at most 1000).
    pub limit: Option<i64>,
    /// Skip this many items.
    pub offset: Option<i64>,
}

/// Bind values of a query built from optional filters.
#[derive(Clone, Debug)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
}

/// A `WHERE` clause built from optional conditions, numbering its own placeholders.
#[derive(Clone, Debug, Default)]
pub(crate) struct Where {
    pub sql: String,
    pub args: Vec<Arg>,
}

impl Where {
    pub fn new(org: OrgId, org_column: &str) -> Where {
        Where {
            sql: format!("{org_column} = $1"),
            args: vec![Arg::Text(org.to_string())],
        }
    }

    /// Append ` AND <cond>` where each `?` in `cond` is the next placeholder, bound to `args`
    /// in order.
    pub fn and(&mut self, cond: &str, args: impl IntoIterator<Item = Arg>) {
        let mut out = String::with_capacity(cond.len() + 8);
        let mut args = args.into_iter();
        for c in cond.chars() {
            if c == '?' {
                self.args
                    .push(args.next().expect("one argument per placeholder"));
                out.push_str(&format!("${}", self.args.len()));
            } else {
                out.push(c);
            }
        }
        self.sql.push_str(" AND ");
        self.sql.push_str(&out);
    }

    /// A condition on words: each word must appear (case-insensitively) in one of `columns`.
    pub fn words(&mut self, q: &str, columns: &[&str]) {
        for word in q.split_whitespace().take(8) {
            let pattern = format!("%{}%", like_escape(&word.to_lowercase()));
            let cond = columns
                .iter()
                .map(|c| format!("LOWER({c}) LIKE ? ESCAPE '\\'"))
                .collect::<Vec<_>>()
                .join(" OR ");
            self.and(
                &format!("({cond})"),
                columns.iter().map(|_| Arg::Text(pattern.clone())),
            );
        }
    }

    pub fn bind<'q>(
        &self,
        mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        for a in &self.args {
            q = match a {
                Arg::Text(s) => q.bind(s.clone()),
                Arg::Int(i) => q.bind(*i),
            };
        }
        q
    }

    pub fn bind_scalar<'q, T>(
        &self,
        mut q: sqlx::query::QueryScalar<'q, sqlx::Any, T, sqlx::any::AnyArguments>,
    ) -> sqlx::query::QueryScalar<'q, sqlx::Any, T, sqlx::any::AnyArguments> {
        for a in &self.args {
            q = match a {
                Arg::Text(s) => q.bind(s.clone()),
                Arg::Int(i) => q.bind(*i),
            };
        }
        q
    }
}

/// Escape `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern.
pub(crate) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `limit` and `offset` with the API's bounds.
pub(crate) fn page(limit: Option<i64>, offset: Option<i64>) -> (i64, i64) {
    (
        limit.unwrap_or(100).clamp(1, 1000),
        offset.unwrap_or(0).max(0),
    )
}

/// Search the catalog: the total and one page, by SKU.
pub async fn list(
    conn: &mut AnyConnection,
    org: OrgId,
    f: &PartFilter,
) -> Result<(i64, Vec<Part>)> {
    let mut w = Where::new(org, "org_id");
    if !f.include_withdrawn.unwrap_or(false) {
        w.and("withdrawn = 0", []);
    }
    if let Some(q) = f.q.as_deref().filter(|q| !q.trim().is_empty()) {
        w.words(q, &["sku", "name", "description"]);
    }
    if let Some(c) = f.category.as_deref().filter(|c| !c.is_empty()) {
        w.and("category = ?", [Arg::Text(c.to_owned())]);
    }
    if let Some(m) = f.model.as_deref().filter(|m| !m.is_empty()) {
        // Models are a JSON array of strings: match one whole element.
        let quoted = serde_json::to_string(m).unwrap_or_default();
        w.and(
            "compatible_models LIKE ? ESCAPE '\\'",
            [Arg::Text(format!("%{}%", like_escape(&quoted)))],
        );
    }
    if let Some(s) = f.serial_tracked {
        w.and("serial_tracked = ?", [Arg::Int(i64::from(s))]);
    }
    let (limit, offset) = page(f.limit, f.offset);
    let total: i64 = w
        .bind_scalar(sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM parts WHERE {}",
            w.sql
        ))))
        .fetch_one(&mut *conn)
        .await?;
    let rows = w
        .bind(sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM parts WHERE {} ORDER BY sku LIMIT {limit} OFFSET {offset}",
            w.sql
        ))))
        .fetch_all(&mut *conn)
        .await?;
    let items = rows.iter().map(Part::from_row).collect::<Result<_>>()?;
    Ok((total, items))
}

/// Every part written after `seq` (withdrawn ones too, so phones drop them), or with `all`,
/// every part still in the catalog. Ordered by SKU.
pub async fn changed_since(
    conn: &mut AnyConnection,
    org: OrgId,
    seq: i64,
    all: bool,
) -> Result<Vec<Part>> {
    let sql = if all {
        format!("SELECT {COLUMNS} FROM parts WHERE org_id = $1 AND withdrawn = 0 ORDER BY sku")
    } else {
        format!("SELECT {COLUMNS} FROM parts WHERE org_id = $1 AND seq > $2 ORDER BY sku")
    };
    let mut q = sqlx::query(AssertSqlSafe(sql)).bind(org.to_string());
    if !all {
        q = q.bind(seq);
    }
    let rows = q.fetch_all(conn).await?;
    rows.iter().map(Part::from_row).collect()
}

/// Every part of the organisation, by SKU, with the reorder levels at `location` if given:
/// what the CSV export writes.
pub async fn all_with_levels(
    conn: &mut AnyConnection,
    org: OrgId,
    location: Option<&str>,
) -> Result<Vec<(Part, Option<(i64, i64)>)>> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT p.{}, l.reorder_point, l.reorder_qty FROM parts p \
         LEFT JOIN stock_levels l ON l.org_id = p.org_id AND l.sku = p.sku AND l.location_id = $2 \
         WHERE p.org_id = $1 ORDER BY p.sku",
        COLUMNS.replace(", ", ", p.")
    )))
    .bind(org.to_string())
    .bind(location.unwrap_or(""))
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let point: Option<i64> = r.try_get("reorder_point")?;
            let qty: Option<i64> = r.try_get("reorder_qty")?;
            Ok((Part::from_row(r)?, point.zip(qty)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_parts_are_normalised_and_checked() {
        let p = validate(&NewPart {
            sku: " EXV-12 ".into(),
            name: " Expansion valve ".into(),
            unit: "pcs".into(),
            compatible_models: vec!["A".into(), " A ".into(), "".into(), "B".into()],
            ..NewPart::default()
        })
        .unwrap();
        assert_eq!(p.sku, "EXV-12");
        assert_eq!(p.name, "Expansion valve");
        assert_eq!(p.compatible_models, vec!["A", "B"]);
        let bad_unit = validate(&NewPart {
            sku: "X".into(),
            name: "X".into(),
            unit: "furlong".into(),
            ..NewPart::default()
        });
        assert!(matches!(bad_unit, Err(InvError::Invalid(m)) if m.contains("unknown unit")));
        let negative = validate(&NewPart {
            sku: "X".into(),
            name: "X".into(),
            unit: "pcs".into(),
            unit_cost_minor: -1,
            ..NewPart::default()
        });
        assert!(negative.is_err());
    }

    #[test]
    fn where_clauses_number_their_placeholders() {
        let mut w = Where::new(OrgId::new(), "org_id");
        w.and("a = ?", [Arg::Int(1)]);
        w.words("Valve 10%", &["name", "sku"]);
        assert_eq!(
            w.sql,
            "org_id = $1 AND a = $2 AND (LOWER(name) LIKE $3 ESCAPE '\\' OR LOWER(sku) LIKE $4 \
             ESCAPE '\\') AND (LOWER(name) LIKE $5 ESCAPE '\\' OR LOWER(sku) LIKE $6 ESCAPE '\\')"
        );
        assert!(matches!(&w.args[4], Arg::Text(p) if p == "%10\\%%"));
    }
}
