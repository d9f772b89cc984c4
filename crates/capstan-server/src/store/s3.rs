//! Blobs in an S3-compatible object store (AWS S3, Cloudflare R2, MinIO, Garage), through
//! `object_store`: `s3://bucket/prefix` names the bucket and the key prefix every blob lives
//! under.
//!
//! A finished upload file is sent as a multipart upload in parts of [`PART_SIZE`] (a small file
//! as one PUT), read from disk as it goes: memory stays bounded whatever the bundle size. The
//! object appears whole when the upload completes, never partially. Reads are streamed, whole
//! or as one byte range. Presigned GET URLs are signed locally (no request to the store), for
//! the host devices reach the store at (`s3.public_endpoint` when it differs).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use object_store::signer::Signer;
use object_store::{
    Attribute, Attributes, ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, RetryConfig,
};
use tokio::io::AsyncWriteExt;

use super::blob::{BlobEntry, BlobError, BlobRead, BlobStore, ByteRange, check_blob_key};
use crate::config::S3Config;

/// Multipart part size: above S3's 5 MiB minimum, few parts for typical bundles.
const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts in flight per upload (memory per upload: at most this many parts).
const PARTS_IN_FLIGHT: usize = 4;
/// What readiness checks look up (never created: "not found" proves access).
const PING_KEY: &str = ".capstan-ping";
/// Blob keys are unique per upload and never rewritten: caches may keep them forever.
const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// Why an S3 store could not be configured.
#[derive(Debug, thiserror::Error)]
#[error("storage_url `{url}`: {reason}")]
pub struct S3OpenError {
    url: String,
    reason: String,
}

/// An S3 bucket and key prefix behind [`BlobStore`].
#[derive(Debug, Clone)]
pub struct S3BlobStore {
    store: Arc<AmazonS3>,
    /// Signs download URLs (the same store unless devices reach it at another endpoint).
    signer: Arc<AmazonS3>,
    prefix: ObjectPath,
}

/// `s3://bucket/some/prefix` → (`bucket`, `some/prefix`).
fn parse_url(url: &str) -> Result<(&str, &str), String> {
    let rest = url.strip_prefix("s3://").ok_or("expected s3://bucket/prefix")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err("the bucket name is missing (s3://bucket/prefix)".into());
    }
    let prefix = prefix.trim_matches('/');
    if !prefix.is_empty() {
        check_blob_key(prefix).map_err(|_| format!("prefix `{prefix}` has characters outside [A-Za-z0-9._+-/]"))?;
    }
    Ok((bucket, prefix))
}

fn builder(bucket: &str, endpoint: Option<&str>, s3: &S3Config) -> AmazonS3Builder {
    let mut builder = AmazonS3Builder::new();
    // The standard AWS variables first (as captured with the rest of the settings), then
    // what the settings say explicitly.
    for (name, value) in &s3.aws_env {
        if let Ok(key) = name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
            builder = builder.with_config(key, value);
        }
    }
    builder = builder.with_bucket_name(bucket);
    if let Some(endpoint) = endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(region) = &s3.region {
        builder = builder.with_region(region);
    }
    if let Some(path_style) = s3.path_style {
        builder = builder.with_virtual_hosted_style_request(!path_style);
    }
    if let Some(key) = &s3.access_key_id {
        builder = builder.with_access_key_id(key);
    }
    if let Some(secret) = &s3.secret_access_key {
        builder = builder.with_secret_access_key(secret);
    }
    if let Some(token) = &s3.session_token {
        builder = builder.with_token(token);
    }
    let plain_http = builder.get_config_value(&AmazonS3ConfigKey::Endpoint).is_some_and(|e| e.starts_with("http://"));
    // No overall request timeout: a streamed download reads the object at the pace of the
    // device it is sent to. Connecting must be quick, and failures are retried for a while.
    let client = ClientOptions::new()
        .with_allow_http(plain_http)
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout_disabled();
    let retry = RetryConfig { max_retries: 3, retry_timeout: Duration::from_secs(20), ..RetryConfig::default() };
    builder.with_client_options(client).with_retry(retry)
}

impl S3BlobStore {
    /// Configures the store `url` names (`s3://bucket/prefix`); nothing is contacted yet (see
    /// [`BlobStore::ping`]).
    pub fn open(url: &str, s3: &S3Config) -> Result<S3BlobStore, S3OpenError> {
        let fail = |reason: String| S3OpenError { url: url.to_owned(), reason };
        let (bucket, prefix) = parse_url(url).map_err(fail)?;
        let store = builder(bucket, s3.endpoint.as_deref(), s3).build().map_err(|e| fail(e.to_string()))?;
        let store = Arc::new(store);
        let signer = match &s3.public_endpoint {
            Some(public) => Arc::new(builder(bucket, Some(public), s3).build().map_err(|e| fail(e.to_string()))?),
            None => store.clone(),
        };
        Ok(S3BlobStore { store, signer, prefix: ObjectPath::from(prefix) })
    }

    fn path(&self, key: &str) -> Result<ObjectPath, BlobError> {
        check_blob_key(key)?;
        Ok(self.prefix.parts().chain(ObjectPath::from(key).parts()).collect())
    }

    /// The key of a stored object, relative to the prefix.
    fn key_of(&self, location: &ObjectPath) -> Option<String> {
        let parts: Vec<_> = location.prefix_match(&self.prefix)?.collect();
        let key = parts.iter().map(|p| p.as_ref()).collect::<Vec<_>>().join("/");
        (!key.is_empty()).then_some(key)
    }
}

/// Not found is [`BlobError::NotFound`]; anything else is the store failing.
fn store_error(e: object_store::Error) -> BlobError {
    match e {
        object_store::Error::NotFound { .. } => BlobError::NotFound,
        other => BlobError::Io(std::io::Error::other(other)),
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn ping(&self) -> Result<(), BlobError> {
        let probe: ObjectPath = self.prefix.parts().chain(ObjectPath::from(PING_KEY).parts()).collect();
        match self.store.head(&probe).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(other) => Err(BlobError::Io(std::io::Error::other(other))),
        }
    }

    async fn put_file(&self, key: &str, source: &Path) -> Result<(), BlobError> {
        let path = self.path(key)?;
        let mut file = tokio::fs::File::open(source).await.map_err(BlobError::Io)?;
        let mut attributes = Attributes::new();
        let content_type = if key.ends_with(".zip") { "application/zip" } else { "application/octet-stream" };
        attributes.insert(Attribute::ContentType, content_type.into());
        attributes.insert(Attribute::CacheControl, CACHE_CONTROL.into());
        let store: Arc<dyn ObjectStore> = self.store.clone();
        let mut writer = BufWriter::with_capacity(store, path, PART_SIZE)
            .with_max_concurrency(PARTS_IN_FLIGHT)
            .with_attributes(attributes);
        if let Err(error) = tokio::io::copy(&mut file, &mut writer).await {
            // Abandoned parts would be billed until a lifecycle rule removes them.
            let _ = writer.abort().await;
            return Err(BlobError::Io(error));
        }
        // A writer that has begun to shut down cannot be aborted (object_store panics): a
        // failed completion leaves its parts to the bucket's lifecycle rule (see the README).
        writer.shutdown().await.map_err(BlobError::Io)
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match self.store.delete(&self.path(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(other) => Err(store_error(other)),
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        match self.store.head(&self.path(key)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(other) => Err(store_error(other)),
        }
    }

    async fn list(&self) -> Result<Vec<BlobEntry>, BlobError> {
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        let mut listing = self.store.list(prefix);
        let mut entries = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(store_error)?;
            if let Some(key) = self.key_of(&meta.location).filter(|key| check_blob_key(key).is_ok()) {
                entries.push(BlobEntry { key, modified_ms: meta.last_modified.timestamp_millis() });
            }
        }
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(entries)
    }

    async fn size(&self, key: &str) -> Result<u64, BlobError> {
        Ok(self.store.head(&self.path(key)?).await.map_err(store_error)?.size)
    }

    async fn read(&self, key: &str, range: Option<ByteRange>) -> Result<BlobRead, BlobError> {
        let path = self.path(key)?;
        let options = GetOptions::new().with_range(range.map(|r| GetRange::Bounded(r.start..r.end + 1)));
        let got = self.store.get_opts(&path, options).await.map_err(store_error)?;
        let len = got.range.end - got.range.start;
        let body = got.into_stream().map_err(std::io::Error::other);
        Ok(BlobRead { len, body: Box::pin(body) })
    }

    async fn signed_url(&self, key: &str, ttl: Duration) -> Result<Option<String>, BlobError> {
        let path = self.path(key)?;
        let url = self.signer.signed_url(object_store::signer::Method::GET, &path, ttl).await.map_err(store_error)?;
        Ok(Some(url.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_urls_name_a_bucket_and_a_prefix() {
        assert_eq!(parse_url("s3://bucket/a/b/"), Ok(("bucket", "a/b")));
        assert_eq!(parse_url("s3://bucket"), Ok(("bucket", "")));
        assert!(parse_url("s3:///x").is_err());
        assert!(parse_url("https://bucket/x").is_err());
        assert!(parse_url("s3://bucket/../x").is_err());
    }

    #[test]
    fn keys_live_under_the_prefix() {
        let store = S3BlobStore::open("s3://bucket/fleet/blobs", &S3Config::default()).unwrap();
        let path = store.path("com.app/1.0.0/abc.zip").unwrap();
        assert_eq!(path.as_ref(), "fleet/blobs/com.app/1.0.0/abc.zip");
        assert_eq!(store.key_of(&path).as_deref(), Some("com.app/1.0.0/abc.zip"));
        assert_eq!(store.key_of(&ObjectPath::from("other/x.zip")), None);
        assert!(matches!(store.path("../x"), Err(BlobError::InvalidKey(_))));
    }
}
