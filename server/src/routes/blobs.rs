//! Blob upload (resumable) and download (through a work order). See `crate::blobs`.

use crate::auth::Caller;
use crate::blobs::{self, UploadState};
use crate::docstore;
use crate::error::{AppError, ErrorBody, Json, Query};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sync_core::{DocId, Role};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_upload, append_upload))
        // A chunk may be larger than the JSON body limit.
        .layer(DefaultBodyLimit::max(
            blobs::BlobSettings::default().max_chunk_bytes,
        ))
        .routes(routes!(get_blob))
        .routes(routes!(get_thumbnail))
}

#[derive(Deserialize, ToSchema)]
pub struct StartUpload {
    /// Total size in bytes.
    pub size: u64,
    /// `image/jpeg` or `image/png`.
    pub content_type: String,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AppendQuery {
    /// Where these bytes go: must equal the bytes the server has (`offset` of the last answer).
    pub offset: u64,
}

/// Who may upload: the people who add photos and signatures to orders.
fn may_upload(caller: &Caller) -> Result<(), AppError> {
    match caller.role {
        Role::Admin | Role::Dispatcher | Role::Engineer => Ok(()),
        _ => Err(AppError::Forbidden),
    }
}

fn hash_of(s: &str) -> Result<String, AppError> {
    blobs::parse_hash(s).ok_or(AppError::NotFound("blob"))
}

/// Start or resume the upload of a blob (its SHA-256 in hex). Idempotent: answers how many
/// bytes the server already has (`offset`), or `complete` if it has the whole blob.
#[utoipa::path(post, path = "/api/v1/blobs/{hash}/upload", tag = "blobs",
    security(("bearer" = [])),
    params(("hash" = String, Path, description = "SHA-256 of the blob, 64 hex characters")),
    request_body = StartUpload,
    responses(
        (status = 200, body = UploadState),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(org = %caller.org, hash = %hash))]
pub(crate) async fn start_upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(hash): Path<String>,
    Json(req): Json<StartUpload>,
) -> Result<Json<UploadState>, AppError> {
    may_upload(&caller)?;
    let hash = hash_of(&hash)?;
    let s = state
        .blobs
        .start(
            &state.db,
            caller.org,
            caller.user,
            &hash,
            req.size,
            &req.content_type,
        )
        .await?;
    Ok(Json(s))
}

/// Append bytes (`application/octet-stream`) at `offset`. 409 `offset_mismatch` if the server
/// has another number of bytes (ask again with POST). The last chunk completes the upload: 422
/// `hash_mismatch` or `invalid_image` discard it.
#[utoipa::path(patch, path = "/api/v1/blobs/{hash}/upload", tag = "blobs",
    security(("bearer" = [])),
    params(("hash" = String, Path, description = "SHA-256 of the blob"), AppendQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 200, body = UploadState),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(org = %caller.org, hash = %hash, offset = q.offset))]
pub(crate) async fn append_upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(hash): Path<String>,
    Query(q): Query<AppendQuery>,
    body: Bytes,
) -> Result<Json<UploadState>, AppError> {
    may_upload(&caller)?;
    let hash = hash_of(&hash)?;
    let s = state
        .blobs
        .append(
            &state.db,
            caller.org,
            caller.user,
            &hash,
            q.offset,
            body.to_vec(),
        )
        .await?;
    Ok(Json(s))
}

/// A photo or signature of a work order: for users who may read the order, and only if the
/// order's document references the blob.
#[utoipa::path(get, path = "/api/v1/work-orders/{id}/blobs/{hash}", tag = "blobs",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "work order id"),
           ("hash" = String, Path, description = "SHA-256 of the blob")),
    responses(
        (status = 200, description = "the image", content_type = "image/jpeg"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_blob(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, hash)): Path<(String, String)>,
) -> Result<Response, AppError> {
    serve(&state, &caller, &id, &hash, false).await
}

/// The console's thumbnail (JPEG, long edge 320 px) of a work order's photo or signature.
#[utoipa::path(get, path = "/api/v1/work-orders/{id}/blobs/{hash}/thumbnail", tag = "blobs",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "work order id"),
           ("hash" = String, Path, description = "SHA-256 of the blob")),
    responses(
        (status = 200, description = "a JPEG", content_type = "image/jpeg"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_thumbnail(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, hash)): Path<(String, String)>,
) -> Result<Response, AppError> {
    serve(&state, &caller, &id, &hash, true).await
}

pub(crate) async fn serve(
    state: &AppState,
    caller: &Caller,
    id: &str,
    hash: &str,
    thumbnail: bool,
) -> Result<Response, AppError> {
    let order = readable_order(state, caller, id).await?;
    let hash = hash_of(hash)?;
    if !blobs::references(&order, &hash) {
        return Err(AppError::NotFound("blob"));
    }
    let blob = state
        .blobs
        .get(&state.db, caller.org, &hash, thumbnail)
        .await?
        // Referenced, but the phone has not uploaded it yet.
        .ok_or(AppError::NotFound("blob"))?;
    Ok((
        [
            (header::CONTENT_TYPE, blob.content_type),
            // Content-addressed: the bytes under this URL never change.
            (
                header::CACHE_CONTROL,
                "private, max-age=31536000, immutable".to_owned(),
            ),
            (header::ETAG, format!("\"{hash}\"")),
        ],
        blob.bytes,
    )
        .into_response())
}

/// The order if the caller may read it: office roles of its organisation, its assigned engineer,
/// users of its customer (the rule of `GET /api/v1/work-orders/{id}`); 404 otherwise.
pub(crate) async fn readable_order(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<sync_core::workorder::WorkOrder, AppError> {
    if !matches!(
        caller.role,
        Role::Admin | Role::Dispatcher | Role::Engineer | Role::Customer
    ) {
        return Err(AppError::Forbidden);
    }
    let id: DocId = id.parse().map_err(|_| AppError::NotFound("work order"))?;
    let mut conn = state.db.pool().acquire().await?;
    let doc = docstore::load(&mut conn, state.docs.actor(), caller.org, id)
        .await?
        .ok_or(AppError::NotFound("work order"))?;
    drop(conn);
    let order = doc.read()?;
    let visible = match caller.role {
        Role::Admin | Role::Dispatcher => true,
        Role::Engineer => order.dispatch.assignee == Some(caller.user),
        Role::Customer => caller.customer_id.as_deref() == Some(order.header.customer.id.as_str()),
        _ => false,
    };
    if !visible {
        return Err(AppError::NotFound("work order"));
    }
    Ok(order)
}
