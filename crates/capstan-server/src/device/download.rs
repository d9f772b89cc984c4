//! Bundle downloads from a local blob store. tower-http's `ServeFile` answers single ranges
//! with 206 and a correct `Content-Range`, always sends an exact `Content-Length`, and adds no
//! `Content-Encoding` (it only serves precompressed files when told to) – all of which the
//! plugin relies on to resume large downloads (protocol.md §6).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::AppState;
use crate::store::check_blob_key;

/// The handler.
pub async fn download(State(state): State<AppState>, Path(key): Path<String>, request: Request<Body>) -> Response {
    if check_blob_key(&key).is_err() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Some(path) = state.blobs().local_path(&key) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match ServeFile::new_with_mime(path, &"application/zip".parse().expect("valid mime")).oneshot(request).await {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    }
}
