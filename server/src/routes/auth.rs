//! Sign-in, sign-out, who am I, and device registration.

use super::ClientIp;
use crate::accounts::{self, Device, LoginLookup, User};
use crate::auth::password::{self, TokenKind};
use crate::auth::{Caller, EngineerOnly};
use crate::error::{AppError, ErrorBody, Json};
use crate::now_ms;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::time::Instant;
use sync_core::Role;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(register_device, list_devices))
        .routes(routes!(revoke_device))
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// Organisation id or name. Needed only when the email exists in several organisations.
    #[serde(default)]
    pub organisation: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// Bearer token. Shown once; only its SHA-256 is stored.
    pub token: String,
    /// UTC milliseconds.
    pub expires_at: i64,
    pub user: User,
}

/// Sign in with email and password.
///
/// Unknown accounts and wrong passwords both answer 401 `unauthorized`, in the same time. After
/// 5 failures per account and client address within a minute, 429 `rate_limited` with
/// `Retry-After`.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 400, body = ErrorBody, description = "invalid_json, organisation_required"),
        (status = 401, body = ErrorBody, description = "unauthorized"),
        (status = 429, body = ErrorBody, description = "rate_limited"),
    ))]
#[tracing::instrument(skip_all)]
pub(crate) async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(req): Json<LoginRequest>,
) -> Result<Json<LoginResponse>, AppError> {
    // Keyed by email alone, whatever organisation is named: spelling the organisation
    // differently must not buy more attempts.
    let key = accounts::normalize_email(&req.email);
    if let Err(wait) = state.login_limiter.check(&key, ip, Instant::now()) {
        return Err(AppError::RateLimited {
            retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        });
    }
    let lookup = accounts::find_login(&state.db, req.organisation.as_deref(), &req.email).await?;
    let ambiguous = matches!(lookup, LoginLookup::Ambiguous);
    let (hash, account) = match lookup {
        LoginLookup::Found(a) => (a.password_hash.clone(), Some(a)),
        LoginLookup::NotFound | LoginLookup::Ambiguous => (state.dummy_hash.to_string(), None),
    };
    // Always verify, against a dummy hash when there is no account: same time either way.
    let password = req.password;
    let matches = state
        .password_work(move || password::verify_password(&hash, &password))
        .await?;
    if ambiguous {
        return Err(AppError::BadRequest {
            code: "organisation_required",
            message: "this email exists in several organisations; name one".into(),
        });
    }
    let account = match account {
        Some(a) if matches => a,
        _ => {
            state.login_limiter.failed(&key, ip, Instant::now());
            return Err(AppError::Unauthorized);
        }
    };
    state.login_limiter.succeeded(&key, ip);
    let (token, token_hash) = password::new_token(TokenKind::Session);
    let expires_at = now_ms() + state.settings.session_ttl.as_millis() as i64;
    accounts::create_session(
        &state.db,
        account.org,
        account.user,
        &token_hash,
        expires_at,
    )
    .await?;
    let user = accounts::get_user(&state.db, account.org, account.user)
        .await?
        .ok_or(AppError::Unauthorized)?;
    tracing::info!(user = %account.user, "signed in");
    Ok(Json(LoginResponse {
        token,
        expires_at,
        user,
    }))
}

/// Sign out: revokes the token used (a device token revokes the device).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub(crate) async fn logout(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<StatusCode, AppError> {
    match &caller.device_id {
        Some(device) => {
            accounts::revoke_device(&state.db, caller.org, device).await?;
        }
        None => accounts::revoke_session(&state.db, caller.org, &caller.token_hash).await?,
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub user: User,
    /// Set when called with a device token.
    pub device_id: Option<String>,
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub(crate) async fn me(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Me>, AppError> {
    let user = accounts::get_user(&state.db, caller.org, caller.user)
        .await?
        .ok_or(AppError::Unauthorized)?;
    Ok(Json(Me {
        user,
        device_id: caller.device_id,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct RegisterDevice {
    /// Chosen by the phone, stable per install (1 to 128 characters).
    pub device_id: String,
    pub name: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct DeviceToken {
    pub device: Device,
    /// Bearer token bound to this user and device; lives until revoked. Shown once.
    pub token: String,
}

/// Register the engineer's phone and get its device token.
///
/// Registering the same device again rotates its token. A device registered to another user
/// is 409 until it is revoked.
#[utoipa::path(post, path = "/api/v1/devices", tag = "auth",
    security(("bearer" = [])),
    request_body = RegisterDevice,
    responses(
        (status = 201, body = DeviceToken),
        (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ))]
pub(crate) async fn register_device(
    State(state): State<AppState>,
    EngineerOnly(caller): EngineerOnly,
    Json(req): Json<RegisterDevice>,
) -> Result<(StatusCode, Json<DeviceToken>), AppError> {
    let (token, hash) = password::new_token(TokenKind::Device);
    let device = accounts::register_device(
        &state.db,
        caller.org,
        caller.user,
        &req.device_id,
        req.name.as_deref(),
        &hash,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(DeviceToken { device, token })))
}

/// Devices: all of the organisation for admins and dispatchers, their own for engineers.
#[utoipa::path(get, path = "/api/v1/devices", tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<Device>), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_devices(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Device>>, AppError> {
    let only = match caller.role {
        Role::Admin | Role::Dispatcher => None,
        Role::Engineer => Some(caller.user),
        _ => return Err(AppError::Forbidden),
    };
    Ok(Json(
        accounts::list_devices(&state.db, caller.org, only).await?,
    ))
}

/// Revoke a device: admins and dispatchers of its organisation, or its engineer. Its token
/// then answers 401 `device_revoked`, and the phone wipes its data.
#[utoipa::path(delete, path = "/api/v1/devices/{id}", tag = "auth",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "device id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn revoke_device(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    if !matches!(caller.role, Role::Admin | Role::Dispatcher | Role::Engineer) {
        return Err(AppError::Forbidden);
    }
    let device = accounts::get_device(&state.db, caller.org, &id)
        .await?
        .ok_or(AppError::NotFound("device"))?;
    if caller.role == Role::Engineer && device.user_id != caller.user.to_string() {
        return Err(AppError::NotFound("device"));
    }
    accounts::revoke_device(&state.db, caller.org, &id).await?;
    tracing::info!(device = %id, by = %caller.user, "device revoked");
    Ok(StatusCode::NO_CONTENT)
}
