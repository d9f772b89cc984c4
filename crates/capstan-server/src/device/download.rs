//! `GET /dl/{key}`: bundle bytes for devices, from any blob store, with single byte ranges.
//!
//! The plugin resumes interrupted downloads with `Range: bytes=N-` (iOS caps each attempt at
//! about 25 s; Android appends a resumed body even on a 200), so a partial answer must be a 206
//! with an exact `Content-Range`, and every answer has an exact `Content-Length` and no
//! `Content-Encoding` (protocol §6). A `Range` this server does not serve as one range (another
//! unit, several ranges, a malformed one) is ignored, as RFC 9110 §14.2 allows: the whole blob
//! with 200. A range starting past the end is 416 with `Content-Range: bytes */SIZE`.
//!
//! With `downloads = "presigned"`, `/updates` offers a presigned URL of the object store
//! instead ([`DownloadLinks`]), so the bytes go from the store (or whatever serves its public
//! endpoint) straight to the device; S3-compatible stores answer single ranges with 206 in the
//! same way. The URL is given in the answer, never as a redirect (protocol §6: Android's zip
//! path does not follow a redirect that switches between http and https).

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::config::{Config, DownloadMode};
use crate::error::AppError;
use crate::store::{BlobError, BlobStore, ByteRange, check_blob_key};

/// Most presigned URLs remembered (one per bundle offered recently).
const MAX_SIGNED: usize = 10_000;

/// Where devices download offered bundles from, and the presigned URLs signed so far: each is
/// reused for half its lifetime, so the hot path signs once per bundle per half-TTL, not per
/// request, and a device always has at least half the TTL to finish (and resume) its download.
pub struct DownloadLinks {
    mode: DownloadMode,
    ttl: Duration,
    signed: RwLock<HashMap<String, (String, Instant)>>,
}

impl DownloadLinks {
    /// As configured.
    pub fn new(config: &Config) -> DownloadLinks {
        DownloadLinks {
            mode: config.downloads,
            ttl: Duration::from_secs(config.presigned_url_ttl_secs),
            signed: RwLock::new(HashMap::new()),
        }
    }

    /// Whether offers carry presigned URLs (otherwise they point at `/dl/` on this server).
    pub fn presigned(&self) -> bool {
        self.mode == DownloadMode::Presigned
    }

    /// A presigned URL for the blob, from memory when one was signed less than half a TTL ago.
    /// `None` if the store cannot sign (the caller keeps the server's own URL).
    pub async fn presigned_url(&self, blobs: &dyn BlobStore, key: &str) -> Option<String> {
        if let Some((url, at)) = self.signed.read().expect("links lock").get(key)
            && at.elapsed() < self.ttl / 2
        {
            return Some(url.clone());
        }
        let signed_at = Instant::now();
        match blobs.signed_url(key, self.ttl).await {
            Ok(Some(url)) => {
                let mut signed = self.signed.write().expect("links lock");
                if signed.len() >= MAX_SIGNED {
                    signed.retain(|_, (_, at)| at.elapsed() < self.ttl / 2);
                }
                signed.insert(key.to_owned(), (url.clone(), signed_at));
                Some(url)
            }
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(%error, key, "cannot presign a download URL; offering the server's own");
                None
            }
        }
    }
}

/// What a `Range` header asks of a blob of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAsk {
    /// No usable range: send everything.
    Whole,
    /// One satisfiable range.
    Part(ByteRange),
    /// A range that starts past the end.
    Unsatisfiable,
}

/// Reads a `Range` header value against a blob of `size` bytes.
pub fn range_ask(header: Option<&HeaderValue>, size: u64) -> RangeAsk {
    let Some(text) = header.and_then(|h| h.to_str().ok()) else { return RangeAsk::Whole };
    let Some((unit, spec)) = text.split_once('=') else { return RangeAsk::Whole };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return RangeAsk::Whole };
    let number =
        |s: &str| if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) { None } else { s.parse::<u64>().ok() };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // `bytes=-N`: the last N bytes; more than the blob holds means all of it (RFC 9110 §14.1.2).
        return match number(last) {
            Some(0) => RangeAsk::Unsatisfiable,
            Some(_) if size == 0 => RangeAsk::Unsatisfiable,
            Some(suffix) => RangeAsk::Part(ByteRange { start: size.saturating_sub(suffix), end: size - 1 }),
            None => RangeAsk::Whole,
        };
    }
    let Some(start) = number(first) else { return RangeAsk::Whole };
    let end = if last.is_empty() {
        u64::MAX
    } else {
        match number(last) {
            Some(end) if end >= start => end,
            _ => return RangeAsk::Whole,
        }
    };
    if start >= size {
        return RangeAsk::Unsatisfiable;
    }
    RangeAsk::Part(ByteRange { start, end: end.min(size - 1) })
}

/// The URL devices download the blob at `key` from (what `/updates` offers).
pub fn url(base_url: &str, key: &str) -> String {
    format!("{base_url}/dl/{key}")
}

/// The handler.
pub async fn download(State(state): State<AppState>, Path(key): Path<String>, headers: HeaderMap) -> Response {
    match serve(&state, &key, &headers).await {
        Ok(response) => response,
        Err(BlobError::NotFound | BlobError::InvalidKey(_)) => StatusCode::NOT_FOUND.into_response(),
        Err(error) => AppError::from(error).into_response(),
    }
}

async fn serve(state: &AppState, key: &str, headers: &HeaderMap) -> Result<Response, BlobError> {
    check_blob_key(key)?;
    let size = state.blobs().size(key).await?;
    let range = match range_ask(headers.get(header::RANGE), size) {
        RangeAsk::Whole => None,
        RangeAsk::Part(range) => Some(range),
        RangeAsk::Unsatisfiable => {
            let content_range = format!("bytes */{size}");
            return Ok((StatusCode::RANGE_NOT_SATISFIABLE, [(header::CONTENT_RANGE, content_range)]).into_response());
        }
    };
    let read = state.blobs().read(key, range).await?;
    let content_type = if key.ends_with(".zip") { "application/zip" } else { "application/octet-stream" };
    let mut response = Response::new(Body::from_stream(read.body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(read.len));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // A key names one upload's bytes forever: a CDN in front of `/dl/` may keep them.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    if let Some(range) = range {
        let content_range = format!("bytes {}-{}/{size}", range.start, range.end);
        headers.insert(header::CONTENT_RANGE, HeaderValue::from_str(&content_range).expect("ASCII digits"));
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(range: &str, size: u64) -> RangeAsk {
        range_ask(Some(&HeaderValue::from_str(range).unwrap()), size)
    }

    fn part(start: u64, end: u64) -> RangeAsk {
        RangeAsk::Part(ByteRange { start, end })
    }

    #[test]
    fn single_ranges_resolve_against_the_size() {
        assert_eq!(range_ask(None, 100), RangeAsk::Whole);
        assert_eq!(ask("bytes=10-", 100), part(10, 99));
        assert_eq!(ask("bytes=10-19", 100), part(10, 19));
        assert_eq!(ask("bytes=90-500", 100), part(90, 99), "an end past the blob is cut to it");
        assert_eq!(ask("bytes=-10", 100), part(90, 99));
        assert_eq!(ask("bytes=-500", 100), part(0, 99), "a suffix longer than the blob is the whole blob, as 206");
        assert_eq!(ask("Bytes = 5-6", 100), part(5, 6), "the unit is case-insensitive");
    }

    #[test]
    fn unsatisfiable_and_ignored_ranges() {
        assert_eq!(ask("bytes=100-", 100), RangeAsk::Unsatisfiable);
        assert_eq!(ask("bytes=-0", 100), RangeAsk::Unsatisfiable);
        for ignored in ["items=0-5", "bytes=0-5,10-20", "bytes=5-1", "bytes=a-b", "bytes", "bytes=--5", "bytes=+1-"] {
            assert_eq!(ask(ignored, 100), RangeAsk::Whole, "{ignored}");
        }
    }
}
