//! Stock locations: warehouses, quarantine (defective stock awaiting the supplier) and one van
//! per engineer. A van is created on the first movement that needs it (an issue to the
//! engineer, a consumption synced from their phone), or when locations are listed.

use super::{InvError, Result, check_sku};
use crate::now_ms;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use sync_core::{OrgId, UserId};
use utoipa::ToSchema;

/// What a location is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LocationKind {
    Warehouse,
    /// Defective stock awaiting return to the supplier; never issued from.
    Quarantine,
    /// An engineer's van: a location that travels.
    Van,
}

impl LocationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LocationKind::Warehouse => "warehouse",
            LocationKind::Quarantine => "quarantine",
            LocationKind::Van => "van",
        }
    }

    pub fn parse(s: &str) -> Option<LocationKind> {
        match s {
            "warehouse" => Some(LocationKind::Warehouse),
            "quarantine" => Some(LocationKind::Quarantine),
            "van" => Some(LocationKind::Van),
            _ => None,
        }
    }
}

/// A stock location.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Location {
    pub id: String,
    /// Short and unique in the organisation, e.g. `WH-SH`, `VAN-3F2A9C1B`.
    pub code: String,
    pub name: String,
    pub kind: LocationKind,
    /// The van's engineer.
    pub engineer_id: Option<String>,
    pub created_at_ms: i64,
}

impl Location {
    fn from_row(r: &AnyRow) -> Result<Location> {
        let kind: String = r.try_get("kind")?;
        Ok(Location {
            id: r.try_get("id")?,
            code: r.try_get("code")?,
            name: r.try_get("name")?,
            kind: LocationKind::parse(&kind)
                .ok_or_else(|| InvError::Invalid(format!("stored location kind {kind:?}")))?,
            engineer_id: r.try_get("engineer_id")?,
            created_at_ms: r.try_get("created_at")?,
        })
    }

    /// How it is named in messages: its code.
    pub fn label(&self) -> &str {
        &self.code
    }
}

/// A new warehouse or quarantine location (vans come with their engineer).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NewLocation {
    /// 1-64 characters of letters, digits and `. _ - / +`; stored upper-case.
    pub code: String,
    pub name: String,
    /// warehouse, quarantine or van.
    pub kind: LocationKind,
    /// For a van: its engineer.
    #[serde(default)]
    pub engineer_id: Option<String>,
}

const COLUMNS: &str = "id, code, name, kind, engineer_id, created_at";

/// Create a location. Codes are unique per organisation (409 `conflict`); a van needs an
/// engineer of the organisation who has none yet.
pub async fn create(tx: &mut AnyConnection, org: OrgId, new: &NewLocation) -> Result<Location> {
    let code = check_sku(&new.code)
        .map_err(|_| {
            InvError::Invalid(
                "a location code is 1-64 characters of letters, digits and . _ - / +".into(),
            )
        })?
        .to_uppercase();
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(InvError::Invalid(
            "a location's name is 1-200 characters".into(),
        ));
    }
    let engineer = match (new.kind, new.engineer_id.as_deref()) {
        (LocationKind::Van, Some(e)) => {
            let user: UserId = e
                .parse()
                .map_err(|_| InvError::Invalid("engineer_id is not a valid id".into()))?;
            if !crate::accounts::is_engineer(tx, org, user).await? {
                return Err(InvError::Invalid("no such engineer".into()));
            }
            if van_of(tx, org, user).await?.is_some() {
                return Err(InvError::Conflict("that engineer has a van already".into()));
            }
            Some(user.to_string())
        }
        (LocationKind::Van, None) => {
            return Err(InvError::Invalid("a van needs its engineer_id".into()));
        }
        (_, Some(_)) => {
            return Err(InvError::Invalid(
                "only a van belongs to an engineer".into(),
            ));
        }
        (_, None) => None,
    };
    if find(tx, org, &code).await?.is_some() {
        return Err(InvError::Conflict(format!(
            "location {code} already exists"
        )));
    }
    insert(tx, org, &code, name, new.kind, engineer.as_deref()).await
}

async fn insert(
    tx: &mut AnyConnection,
    org: OrgId,
    code: &str,
    name: &str,
    kind: LocationKind,
    engineer: Option<&str>,
) -> Result<Location> {
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO locations (org_id, id, code, name, kind, engineer_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(org.to_string())
    .bind(&id)
    .bind(code)
    .bind(name)
    .bind(kind.as_str())
    .bind(engineer)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(Location {
        id,
        code: code.to_owned(),
        name: name.to_owned(),
        kind,
        engineer_id: engineer.map(str::to_owned),
        created_at_ms: now,
    })
}

/// A location by id or by code (case-insensitive).
pub async fn find(
    conn: &mut AnyConnection,
    org: OrgId,
    id_or_code: &str,
) -> Result<Option<Location>> {
    let key = id_or_code.trim();
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM locations WHERE org_id = $1 AND (id = $2 OR code = $3)"
    )))
    .bind(org.to_string())
    .bind(key)
    .bind(key.to_uppercase())
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(Location::from_row).transpose()
}

/// A location by id or code, or `unknown_location`.
pub async fn resolve(conn: &mut AnyConnection, org: OrgId, id_or_code: &str) -> Result<Location> {
    find(conn, org, id_or_code)
        .await?
        .ok_or_else(|| InvError::UnknownLocation(id_or_code.trim().to_owned()))
}

/// The van of `engineer`, if it exists.
pub async fn van_of(
    conn: &mut AnyConnection,
    org: OrgId,
    engineer: UserId,
) -> Result<Option<Location>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM locations WHERE org_id = $1 AND engineer_id = $2"
    )))
    .bind(org.to_string())
    .bind(engineer.to_string())
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(Location::from_row).transpose()
}

/// The van of `user`, created if missing. `None` when `user` is no user of the organisation.
/// Call inside a write transaction.
pub async fn ensure_van(
    tx: &mut AnyConnection,
    org: OrgId,
    user: UserId,
) -> Result<Option<Location>> {
    if let Some(van) = van_of(tx, org, user).await? {
        return Ok(Some(van));
    }
    let name: Option<String> =
        sqlx::query_scalar("SELECT name FROM users WHERE org_id = $1 AND id = $2")
            .bind(org.to_string())
            .bind(user.to_string())
            .fetch_optional(&mut *tx)
            .await?;
    let Some(name) = name else {
        return Ok(None);
    };
    let simple = user.0.simple().to_string().to_uppercase();
    let mut code = format!("VAN-{}", &simple[..8]);
    if find(tx, org, &code).await?.is_some() {
        code = format!("VAN-{simple}");
    }
    let van = insert(
        tx,
        org,
        &code,
        &format!("Van of {name}"),
        LocationKind::Van,
        Some(&user.to_string()),
    )
    .await?;
    Ok(Some(van))
}

/// Create the missing vans of the organisation's engineers; returns how many. Writes only when
/// one is missing (a read first), so listing locations stays cheap.
pub async fn ensure_vans(db: &crate::Db, org: OrgId) -> Result<usize> {
    let missing_sql = "SELECT u.id FROM users u LEFT JOIN locations l \
                       ON l.org_id = u.org_id AND l.engineer_id = u.id \
                       WHERE u.org_id = $1 AND u.role = 'engineer' AND l.id IS NULL";
    let missing: Vec<String> = sqlx::query_scalar(missing_sql)
        .bind(org.to_string())
        .fetch_all(db.pool())
        .await?;
    if missing.is_empty() {
        return Ok(0);
    }
    let mut tx = db.begin().await?;
    let missing: Vec<String> = sqlx::query_scalar(missing_sql)
        .bind(org.to_string())
        .fetch_all(&mut *tx)
        .await?;
    let mut made = 0;
    for id in &missing {
        if let Ok(user) = id.parse::<UserId>()
            && ensure_van(&mut tx, org, user).await?.is_some()
        {
            made += 1;
        }
    }
    tx.commit().await?;
    Ok(made)
}

/// The one location of `kind` if there is exactly one: the default source of issues and
/// destination of returns. Several (or none) is `invalid_input` naming `what`.
pub async fn the_only(
    conn: &mut AnyConnection,
    org: OrgId,
    kind: LocationKind,
    what: &str,
) -> Result<Location> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM locations WHERE org_id = $1 AND kind = $2 ORDER BY code LIMIT 2"
    )))
    .bind(org.to_string())
    .bind(kind.as_str())
    .fetch_all(conn)
    .await?;
    match rows.as_slice() {
        [one] => Location::from_row(one),
        [] => Err(InvError::WrongLocation(format!(
            "there is no {} location yet; create one first",
            kind.as_str()
        ))),
        _ => Err(InvError::Invalid(format!(
            "there are several {} locations: say which {what}",
            kind.as_str()
        ))),
    }
}

/// The quarantine location (the first by code), created as `QUARANTINE` if there is none.
pub async fn ensure_quarantine(tx: &mut AnyConnection, org: OrgId) -> Result<Location> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM locations WHERE org_id = $1 AND kind = 'quarantine' \
         ORDER BY code LIMIT 1"
    )))
    .bind(org.to_string())
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(r) = row {
        return Location::from_row(&r);
    }
    let mut code = "QUARANTINE".to_owned();
    if find(tx, org, &code).await?.is_some() {
        code = format!(
            "QUARANTINE-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..6]
        );
    }
    insert(tx, org, &code, "Quarantine", LocationKind::Quarantine, None).await
}

/// Locations of the organisation by kind and code; `engineer` limits the list to their van.
pub async fn list(
    conn: &mut AnyConnection,
    org: OrgId,
    kind: Option<LocationKind>,
    engineer: Option<UserId>,
) -> Result<Vec<Location>> {
    let mut sql = format!("SELECT {COLUMNS} FROM locations WHERE org_id = $1");
    let mut args = Vec::new();
    if let Some(k) = kind {
        args.push(k.as_str().to_owned());
        sql.push_str(&format!(" AND kind = ${}", args.len() + 1));
    }
    if let Some(e) = engineer {
        args.push(e.to_string());
        sql.push_str(&format!(" AND engineer_id = ${}", args.len() + 1));
    }
    sql.push_str(" ORDER BY kind, code");
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.to_string());
    for a in args {
        q = q.bind(a);
    }
    let rows = q.fetch_all(conn).await?;
    rows.iter().map(Location::from_row).collect()
}
