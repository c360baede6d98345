//! Registered phones and their device tokens.

use crate::db::Db;
use crate::error::{Error, Result};
use crate::now_ms;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sync_core::{OrgId, UserId};
use utoipa::ToSchema;

/// A registered device as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Device {
    pub id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

fn device_from_row(r: &sqlx::any::AnyRow) -> Result<Device> {
    Ok(Device {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        name: r.try_get("name")?,
        created_at: r.try_get("created_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

/// Register `device_id` for `user` with a new token hash. The same user registering again
/// rotates the token (and lifts a revocation: they signed in again). A device id held by another
/// user of the organisation is a conflict until an admin or dispatcher revokes it.
pub async fn register_device(
    db: &Db,
    org: OrgId,
    user: UserId,
    device_id: &str,
    name: Option<&str>,
    token_hash: &str,
) -> Result<Device> {
    let device_id = device_id.trim();
    if device_id.is_empty() || device_id.len() > 128 {
        return Err(Error::Invalid("a device id has 1 to 128 characters".into()));
    }
    let mut tx = db.begin().await?;
    let holder: Option<(String, Option<i64>)> =
        sqlx::query_as("SELECT user_id, revoked_at FROM devices WHERE org_id = $1 AND id = $2")
            .bind(org.to_string())
            .bind(device_id)
            .fetch_optional(&mut *tx)
            .await?;
    let now = now_ms();
    match holder {
        None => {
            sqlx::query(
                "INSERT INTO devices (org_id, id, user_id, token_hash, name, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(org.to_string())
            .bind(device_id)
            .bind(user.to_string())
            .bind(token_hash)
            .bind(name.map(str::to_owned))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        Some((holder, revoked)) if holder == user.to_string() || revoked.is_some() => {
            sqlx::query(
                "UPDATE devices SET user_id = $3, token_hash = $4, name = $5, created_at = $6, \
                 revoked_at = NULL WHERE org_id = $1 AND id = $2",
            )
            .bind(org.to_string())
            .bind(device_id)
            .bind(user.to_string())
            .bind(token_hash)
            .bind(name.map(str::to_owned))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        Some(_) => {
            return Err(Error::Conflict(
                "this device is registered to another user; revoke it first".into(),
            ));
        }
    }
    tx.commit().await?;
    Ok(Device {
        id: device_id.to_owned(),
        user_id: user.to_string(),
        name: name.map(str::to_owned),
        created_at: now,
        revoked_at: None,
    })
}

/// One device of `org`.
pub async fn get_device(db: &Db, org: OrgId, device_id: &str) -> Result<Option<Device>> {
    let row = sqlx::query(
        "SELECT id, user_id, name, created_at, revoked_at FROM devices \
         WHERE org_id = $1 AND id = $2",
    )
    .bind(org.to_string())
    .bind(device_id)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(device_from_row).transpose()
}

/// Devices of `org`, or of one user.
pub async fn list_devices(db: &Db, org: OrgId, user: Option<UserId>) -> Result<Vec<Device>> {
    let rows = sqlx::query(
        "SELECT id, user_id, name, created_at, revoked_at FROM devices \
         WHERE org_id = $1 AND ($2 = '' OR user_id = $2) ORDER BY created_at, id",
    )
    .bind(org.to_string())
    .bind(user.map(|u| u.to_string()).unwrap_or_default())
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(device_from_row).collect()
}

/// Revoke a device of `org`; its token then answers `device_revoked`. Idempotent. `false` if
/// there is no such device.
pub async fn revoke_device(db: &Db, org: OrgId, device_id: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE devices SET revoked_at = COALESCE(revoked_at, $3) WHERE org_id = $1 AND id = $2",
    )
    .bind(org.to_string())
    .bind(device_id)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() > 0)
}
