//! Who is calling: bearer tokens turned into a [`Caller`], and role guards as extractors, so a
//! handler's signature says who may call it. A route without one of these extractors is public;
//! the access test walks every route of the OpenAPI document to keep that list short and known.
//!
//! | extractor | accepts |
//! |---|---|
//! | [`Caller`] | any signed-in user (session or device token) |
//! | [`Office`] | admin, dispatcher |
//! | [`AdminOnly`] | admin |
//! | [`EngineerOnly`] | engineer |
//! | [`DeviceCaller`] | an engineer authenticated with a *device* token (the sync endpoint) |

pub mod password;
pub mod ratelimit;

use crate::error::AppError;
use crate::now_ms;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use password::{TokenKind, hash_token};
use sqlx::Row;
use sync_core::{OrgId, Role, UserId};

/// An authenticated user. Every query a handler makes is scoped by `org`.
#[derive(Clone, Debug)]
pub struct Caller {
    pub org: OrgId,
    pub user: UserId,
    pub role: Role,
    /// For customer users: the customer whose orders they may see.
    pub customer_id: Option<String>,
    /// Set when the caller used a device token.
    pub device_id: Option<String>,
    /// SHA-256 of the presented token (to revoke it on logout).
    pub token_hash: String,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let token = bearer(parts).ok_or(AppError::Unauthorized)?;
        let caller = authenticate(state, token).await?;
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Look a presented token up. Unknown, expired or revoked session tokens are `unauthorized`;
/// a revoked device token is `device_revoked` (the phone wipes its data on that code).
pub async fn authenticate(state: &AppState, token: &str) -> Result<Caller, AppError> {
    let kind = TokenKind::of(token).ok_or(AppError::Unauthorized)?;
    let hash = hash_token(token);
    let sql = match kind {
        TokenKind::Session => {
            "SELECT s.org_id, s.user_id, u.role, u.customer_id, s.expires_at, s.revoked_at, \
                    NULL AS device_id \
             FROM sessions s JOIN users u ON u.org_id = s.org_id AND u.id = s.user_id \
             WHERE s.token_hash = $1"
        }
        TokenKind::Device => {
            "SELECT d.org_id, d.user_id, u.role, u.customer_id, NULL AS expires_at, d.revoked_at, \
                    d.id AS device_id \
             FROM devices d JOIN users u ON u.org_id = d.org_id AND u.id = d.user_id \
             WHERE d.token_hash = $1"
        }
    };
    let row = sqlx::query(sql)
        .bind(&hash)
        .fetch_optional(state.db.pool())
        .await?
        .ok_or(AppError::Unauthorized)?;
    let revoked: Option<i64> = row.try_get("revoked_at")?;
    let expires: Option<i64> = row.try_get("expires_at")?;
    if revoked.is_some() {
        return Err(match kind {
            TokenKind::Device => AppError::DeviceRevoked,
            TokenKind::Session => AppError::Unauthorized,
        });
    }
    if expires.is_some_and(|e| e <= now_ms()) {
        return Err(AppError::Unauthorized);
    }
    let parse_err = |what: &str| AppError::Internal(format!("stored {what} is malformed"));
    let role: String = row.try_get("role")?;
    Ok(Caller {
        org: row
            .try_get::<String, _>("org_id")?
            .parse()
            .map_err(|_| parse_err("org id"))?,
        user: row
            .try_get::<String, _>("user_id")?
            .parse()
            .map_err(|_| parse_err("user id"))?,
        role: Role::parse(&role).ok_or_else(|| parse_err("role"))?,
        customer_id: row.try_get("customer_id")?,
        device_id: row.try_get("device_id")?,
        token_hash: hash,
    })
}

/// Declares a role guard: a newtype over [`Caller`] that rejects other roles with 403.
macro_rules! role_guard {
    ($(#[$doc:meta])* $name:ident: $($role:ident)|+) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name(pub Caller);

        impl FromRequestParts<AppState> for $name {
            type Rejection = AppError;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &AppState,
            ) -> Result<Self, AppError> {
                let caller = Caller::from_request_parts(parts, state).await?;
                if matches!(caller.role, $(Role::$role)|+) {
                    Ok($name(caller))
                } else {
                    Err(AppError::Forbidden)
                }
            }
        }
    };
}

role_guard!(
    /// An admin or a dispatcher of the caller's organisation.
    Office: Admin | Dispatcher
);
role_guard!(
    /// An admin.
    AdminOnly: Admin
);
role_guard!(
    /// A field engineer.
    EngineerOnly: Engineer
);

/// An engineer calling with a device token: what the sync endpoint takes. A session token is
/// `unauthorized` here (a phone must register first), a revoked device `device_revoked`.
#[derive(Clone, Debug)]
pub struct DeviceCaller {
    pub caller: Caller,
    pub device_id: String,
}

impl FromRequestParts<AppState> for DeviceCaller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let device_id = caller.device_id.clone().ok_or(AppError::Unauthorized)?;
        if caller.role != Role::Engineer {
            return Err(AppError::Forbidden);
        }
        Ok(DeviceCaller { caller, device_id })
    }
}
