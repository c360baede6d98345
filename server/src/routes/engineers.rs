//! Engineers: users with the engineer role plus what dispatch needs (skills, home base,
//! working hours, last known location).

use super::parse_path_id;
use crate::accounts::{
    self, Engineer, EngineerProfile, GeoPoint, LastLocation, NewUser, WorkingHours,
};
use crate::auth::password;
use crate::auth::{Caller, Office};
use crate::error::{AppError, ErrorBody, Json};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use sync_core::{Role, UserId};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_engineers, create_engineer))
        .routes(routes!(get_engineer, update_engineer))
        .routes(routes!(report_location))
}

#[derive(Deserialize, ToSchema)]
pub struct CreateEngineer {
    pub email: String,
    pub name: String,
    /// At least 8 characters.
    pub password: String,
    #[serde(default)]
    pub skills: Vec<String>,
    pub home: Option<GeoPoint>,
    #[serde(default)]
    pub working_hours: WorkingHours,
}

/// Fields to change; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
pub struct UpdateEngineer {
    pub skills: Option<Vec<String>>,
    pub home: Option<GeoPoint>,
    pub working_hours: Option<WorkingHours>,
    pub last_location: Option<LastLocation>,
}

/// Engineers of the organisation (admin, dispatcher).
#[utoipa::path(get, path = "/api/v1/engineers", tag = "engineers",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<Engineer>), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_engineers(
    State(state): State<AppState>,
    Office(caller): Office,
) -> Result<Json<Vec<Engineer>>, AppError> {
    Ok(Json(
        accounts::list_engineers(&state.db, caller.org, None).await?,
    ))
}

/// Create an engineer account with its profile (admin, dispatcher). 409 if the email exists
/// in the organisation.
#[utoipa::path(post, path = "/api/v1/engineers", tag = "engineers",
    security(("bearer" = [])),
    request_body = CreateEngineer,
    responses((status = 201, body = Engineer), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_engineer(
    State(state): State<AppState>,
    Office(caller): Office,
    Json(req): Json<CreateEngineer>,
) -> Result<(StatusCode, Json<Engineer>), AppError> {
    let pw = req.password;
    let password_hash = state
        .password_work(move || password::hash_password(&pw))
        .await??;
    let profile = EngineerProfile {
        skills: req.skills,
        home: req.home,
        working_hours: req.working_hours,
        last_location: None,
    };
    let mut tx = state.db.begin().await?;
    let user = accounts::create_user(
        &mut tx,
        &NewUser {
            org: caller.org,
            email: req.email,
            name: req.name,
            role: Role::Engineer,
            password_hash,
            customer_id: None,
            team: None,
            territory: None,
        },
    )
    .await?;
    accounts::put_engineer_profile(&mut tx, caller.org, user, &profile).await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(one(&state, caller.org, user).await?),
    ))
}

pub(crate) async fn one(
    state: &AppState,
    org: sync_core::OrgId,
    user: UserId,
) -> Result<Engineer, AppError> {
    accounts::list_engineers(&state.db, org, Some(user))
        .await?
        .pop()
        .ok_or(AppError::NotFound("engineer"))
}

/// One engineer: admins and dispatchers, or the engineer themself.
#[utoipa::path(get, path = "/api/v1/engineers/{id}", tag = "engineers",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "engineer (user) id")),
    responses((status = 200, body = Engineer), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn get_engineer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Engineer>, AppError> {
    let id: UserId = parse_path_id(&id, "engineer")?;
    match caller.role {
        Role::Admin | Role::Dispatcher => {}
        Role::Engineer if caller.user == id => {}
        Role::Engineer => return Err(AppError::NotFound("engineer")),
        _ => return Err(AppError::Forbidden),
    }
    Ok(Json(one(&state, caller.org, id).await?))
}

/// Change an engineer's profile (admin, dispatcher).
#[utoipa::path(patch, path = "/api/v1/engineers/{id}", tag = "engineers",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "engineer (user) id")),
    request_body = UpdateEngineer,
    responses((status = 200, body = Engineer), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn update_engineer(
    State(state): State<AppState>,
    Office(caller): Office,
    Path(id): Path<String>,
    Json(req): Json<UpdateEngineer>,
) -> Result<Json<Engineer>, AppError> {
    let id: UserId = parse_path_id(&id, "engineer")?;
    let mut profile = one(&state, caller.org, id).await?.profile;
    if let Some(skills) = req.skills {
        profile.skills = skills;
    }
    if let Some(home) = req.home {
        profile.home = Some(home);
    }
    if let Some(hours) = req.working_hours {
        profile.working_hours = hours;
    }
    if let Some(last) = req.last_location {
        profile.last_location = Some(last);
    }
    let mut tx = state.db.begin().await?;
    accounts::put_engineer_profile(&mut tx, caller.org, id, &profile).await?;
    tx.commit().await?;
    Ok(Json(one(&state, caller.org, id).await?))
}

/// Where the calling engineer's phone is now (engineer, session or device token): what dispatch
/// suggestions use as the engineer's position. A report older than the last one is ignored.
#[utoipa::path(post, path = "/api/v1/me/location", tag = "engineers",
    security(("bearer" = [])),
    request_body = LastLocation,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn report_location(
    State(state): State<AppState>,
    caller: Caller,
    Json(at): Json<LastLocation>,
) -> Result<StatusCode, AppError> {
    if caller.role != Role::Engineer {
        return Err(AppError::Forbidden);
    }
    let mut conn = state.db.pool().acquire().await?;
    accounts::report_location(&mut conn, caller.org, caller.user, at).await?;
    Ok(StatusCode::NO_CONTENT)
}
