//! Organisations, users, engineer profiles, customers and devices in the database. Used by the
//! HTTP handlers, the admin commands and the demo seeder alike. Every function that reads or
//! writes a tenant's rows takes its `OrgId`.

use crate::db::Db;
use crate::error::{Error, Result};
use crate::now_ms;
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};
use sync_core::{OrgId, Role, UserId};
use utoipa::ToSchema;

mod customers;
mod devices;
mod engineers;

pub use customers::*;
pub use devices::*;
pub use engineers::*;

/// Emails are compared trimmed and lower-cased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

pub(crate) fn parse_id<T: std::str::FromStr>(s: &str, what: &'static str) -> Result<T> {
    s.parse()
        .map_err(|_| Error::Invalid(format!("stored {what} is malformed")))
}

// ----- organisations -----

/// Create an organisation; its name is unique (409 otherwise).
pub async fn create_org(db: &Db, name: &str) -> Result<OrgId> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::Invalid("an organisation needs a name".into()));
    }
    let id = OrgId::new();
    sqlx::query(
        "INSERT INTO organisations (id, name, order_counter, created_at) VALUES ($1, $2, 0, $3)",
    )
    .bind(id.to_string())
    .bind(name)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(id)
}

/// An organisation by id or by exact name.
pub async fn find_org(db: &Db, id_or_name: &str) -> Result<Option<OrgId>> {
    let id: Option<String> =
        sqlx::query_scalar("SELECT id FROM organisations WHERE id = $1 OR name = $1")
            .bind(id_or_name.trim())
            .fetch_optional(db.pool())
            .await?;
    id.map(|s| parse_id(&s, "organisation id")).transpose()
}

/// Like [`find_org`], but a missing organisation is an error.
pub async fn resolve_org(db: &Db, id_or_name: &str) -> Result<OrgId> {
    find_org(db, id_or_name)
        .await?
        .ok_or(Error::NotFound("organisation"))
}

// ----- users -----

/// A user to create. `password_hash` is an argon2id PHC string (see `auth::password`).
#[derive(Clone, Debug)]
pub struct NewUser {
    pub org: OrgId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    pub customer_id: Option<String>,
    pub team: Option<String>,
    pub territory: Option<String>,
}

/// Insert a user. The email must be unique within the organisation (409 otherwise); a customer
/// user must name a customer of the same organisation.
pub async fn create_user(conn: &mut AnyConnection, u: &NewUser) -> Result<UserId> {
    if matches!(u.role, Role::System) {
        return Err(Error::Invalid("no user can have the system role".into()));
    }
    let email = normalize_email(&u.email);
    if !email.contains('@') || u.name.trim().is_empty() {
        return Err(Error::Invalid(
            "a user needs an email address and a name".into(),
        ));
    }
    if (u.role == Role::Customer) != u.customer_id.is_some() {
        return Err(Error::Invalid(
            "customer users, and only they, must name a customer".into(),
        ));
    }
    if let Some(customer) = &u.customer_id
        && !customer_exists(conn, u.org, customer).await?
    {
        return Err(Error::Invalid("unknown customer".into()));
    }
    let id = UserId::new();
    sqlx::query(
        "INSERT INTO users (org_id, id, email, name, role, password_hash, customer_id, team, \
         territory, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(u.org.to_string())
    .bind(id.to_string())
    .bind(email)
    .bind(u.name.trim())
    .bind(u.role.as_str())
    .bind(&u.password_hash)
    .bind(u.customer_id.clone())
    .bind(u.team.clone())
    .bind(u.territory.clone())
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(id)
}

/// A user as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub name: String,
    /// admin, dispatcher, warehouse, engineer or customer.
    pub role: String,
    pub customer_id: Option<String>,
    pub team: Option<String>,
    pub territory: Option<String>,
}

/// One user of `org`.
pub async fn get_user(db: &Db, org: OrgId, id: UserId) -> Result<Option<User>> {
    let row = sqlx::query(
        "SELECT id, org_id, email, name, role, customer_id, team, territory FROM users \
         WHERE org_id = $1 AND id = $2",
    )
    .bind(org.to_string())
    .bind(id.to_string())
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        Ok::<_, Error>(User {
            id: r.try_get("id")?,
            org_id: r.try_get("org_id")?,
            email: r.try_get("email")?,
            name: r.try_get("name")?,
            role: r.try_get("role")?,
            customer_id: r.try_get("customer_id")?,
            team: r.try_get("team")?,
            territory: r.try_get("territory")?,
        })
    })
    .transpose()
}

/// A user's console preferences: display name, chosen language and time zone (`None`: not
/// chosen).
#[derive(Clone, Debug, Default)]
pub struct Preferences {
    pub name: String,
    pub locale: Option<String>,
    pub time_zone: Option<String>,
}

/// A user's console preferences, for the console's session.
pub async fn preferences(db: &Db, org: OrgId, id: UserId) -> Result<Option<Preferences>> {
    let row: Option<(String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT name, locale, time_zone FROM users WHERE org_id = $1 AND id = $2")
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(|(name, locale, time_zone)| Preferences {
        name,
        locale,
        time_zone,
    }))
}

/// Remember the IANA time zone chosen by `id` for the console (`None`: the deployment's).
/// The caller checks the name.
pub async fn set_time_zone(db: &Db, org: OrgId, id: UserId, zone: Option<&str>) -> Result<()> {
    sqlx::query("UPDATE users SET time_zone = $3 WHERE org_id = $1 AND id = $2")
        .bind(org.to_string())
        .bind(id.to_string())
        .bind(zone)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Remember the console language `locale` chose by `id`.
pub async fn set_locale(db: &Db, org: OrgId, id: UserId, locale: &str) -> Result<()> {
    sqlx::query("UPDATE users SET locale = $3 WHERE org_id = $1 AND id = $2")
        .bind(org.to_string())
        .bind(id.to_string())
        .bind(locale)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// What a login needs to know about an account.
#[derive(Clone, Debug)]
pub struct LoginAccount {
    pub org: OrgId,
    pub user: UserId,
    pub password_hash: String,
}

/// The outcome of looking an email up for a login.
#[derive(Debug)]
pub enum LoginLookup {
    Found(LoginAccount),
    NotFound,
    /// The email exists in several organisations and none was named.
    Ambiguous,
}

/// Find the account a login names: in `org` (id or name) when given, otherwise across
/// organisations (a private deployment has one).
pub async fn find_login(db: &Db, org: Option<&str>, email: &str) -> Result<LoginLookup> {
    let email = normalize_email(email);
    let rows = match org {
        Some(org) => {
            sqlx::query(
                "SELECT u.org_id, u.id, u.password_hash FROM users u \
                 JOIN organisations o ON o.id = u.org_id \
                 WHERE u.email = $1 AND (o.id = $2 OR o.name = $2) LIMIT 2",
            )
            .bind(&email)
            .bind(org.trim())
            .fetch_all(db.pool())
            .await?
        }
        None => {
            sqlx::query("SELECT org_id, id, password_hash FROM users WHERE email = $1 LIMIT 2")
                .bind(&email)
                .fetch_all(db.pool())
                .await?
        }
    };
    match rows.as_slice() {
        [] => Ok(LoginLookup::NotFound),
        [r] => Ok(LoginLookup::Found(LoginAccount {
            org: parse_id(&r.try_get::<String, _>(0)?, "organisation id")?,
            user: parse_id(&r.try_get::<String, _>(1)?, "user id")?,
            password_hash: r.try_get(2)?,
        })),
        _ => Ok(LoginLookup::Ambiguous),
    }
}

/// Set a user's password hash and revoke their sessions (devices stay registered).
pub async fn set_password(db: &Db, org: OrgId, email: &str, password_hash: &str) -> Result<()> {
    let mut tx = db.begin().await?;
    let user: Option<String> =
        sqlx::query_scalar("SELECT id FROM users WHERE org_id = $1 AND email = $2")
            .bind(org.to_string())
            .bind(normalize_email(email))
            .fetch_optional(&mut *tx)
            .await?;
    let user = user.ok_or(Error::NotFound("user"))?;
    sqlx::query("UPDATE users SET password_hash = $3 WHERE org_id = $1 AND id = $2")
        .bind(org.to_string())
        .bind(&user)
        .bind(password_hash)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE sessions SET revoked_at = $3 WHERE org_id = $1 AND user_id = $2 \
         AND revoked_at IS NULL",
    )
    .bind(org.to_string())
    .bind(&user)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

// ----- sessions (devices: devices.rs) -----

/// Store a new session token hash for `user`.
pub async fn create_session(
    db: &Db,
    org: OrgId,
    user: UserId,
    token_hash: &str,
    expires_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, org_id, user_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(org.to_string())
    .bind(user.to_string())
    .bind(now_ms())
    .bind(expires_at)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Revoke one session (logout).
pub async fn revoke_session(db: &Db, org: OrgId, token_hash: &str) -> Result<()> {
    sqlx::query(
        "UPDATE sessions SET revoked_at = $3 WHERE org_id = $1 AND token_hash = $2 \
         AND revoked_at IS NULL",
    )
    .bind(org.to_string())
    .bind(token_hash)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(())
}
