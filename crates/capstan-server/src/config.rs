//! Server settings: defaults, then an optional TOML file, then `CAPSTAN_*` environment
//! variables (each layer overrides the one before, as container deployments expect).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::client_addr::Cidr;

/// Everything `capstan-server serve` needs.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// SQLite file and bundle blobs live here.
    pub data_dir: PathBuf,
    /// Address for device endpoints (and the management API unless `management_listen` is set).
    pub listen: SocketAddr,
    /// Separate address for the management API, so it need not be public.
    pub management_listen: Option<SocketAddr>,
    /// Base URL devices download bundles from (`https://updates.example.com`). Defaults to
    /// `http://<listen>`.
    pub public_url: Option<String>,
    /// Largest bundle upload accepted, in bytes.
    pub max_bundle_bytes: u64,
    /// fsync every commit (`synchronous=FULL`): acknowledged data survives power loss, not just
    /// a process crash.
    pub durable_writes: bool,
    /// Device state is buffered in memory and written in batches this often.
    pub device_flush_ms: u64,
    /// How often each replica asks the database whether any app's configuration changed (one
    /// small query for all apps), and reloads the apps that did. A change made through another
    /// replica stops being served within this interval plus one reload (see `cache`).
    pub cache_check_ms: u64,
    /// How precisely a device's `last_seen_ms` is kept: a device that reports the same state
    /// again is written at most once per period of this length, so its last-seen time is at
    /// most this much earlier than the last request (0: every request is written).
    pub device_seen_precision_ms: u64,
    /// Longest time an app's configuration is served without the database having confirmed it
    /// is current (when the database cannot be reached). Local writes invalidate at once.
    pub cache_ttl_ms: u64,
    /// Most stats events waiting for the writer; beyond that devices get 503 and retry.
    pub stats_queue_events: usize,
    /// Per-client-address rate limit on device endpoints.
    pub rate_limit: RateLimitConfig,
    /// Limits on client connections (both listeners together).
    pub connections: ConnectionsConfig,
    /// Per-address budgets of `/stats`, checked before a body is read or parsed.
    pub stats_limit: StatsLimitConfig,
    /// Raw stats events older than this many days are deleted by a background job (the
    /// hourly counters are kept); 0 keeps them forever.
    pub stats_retention_days: u32,
    /// Limits on channels that legacy plugins store with `setChannel`.
    pub channel_self: ChannelSelfConfig,
    /// PostgreSQL URL (`postgres://user:password@host/db`); unset: the embedded SQLite file.
    pub database_url: Option<String>,
    /// Most connections this replica opens to PostgreSQL.
    pub database_max_connections: u32,
    /// Object store for bundles (`s3://bucket/prefix`); unset: `<data_dir>/blobs`.
    pub storage_url: Option<String>,
    /// How to reach the S3-compatible store (`[s3]` table).
    pub s3: S3Config,
    /// Where device download URLs point: this server (`server`, streamed from the store with
    /// Range support) or a presigned object-store URL (`presigned`).
    pub downloads: DownloadMode,
    /// How long a presigned download URL is valid. Each is reused for half of that, so a device
    /// always gets at least half of it to finish (and resume) its download.
    pub presigned_url_ttl_secs: u64,
    /// Run periodic jobs (rollout plans, retention) on a timer. Tests that move an injected
    /// clock turn it off and run the jobs themselves.
    pub background_jobs: bool,
    /// How often the release safety job runs (rollout plans, the channel guard, scheduled
    /// publishes), in ms: a step, pause or scheduled publish happens at most this late.
    pub release_safety_every_ms: u64,
    /// Store every file of a plain bundle on its own at upload (delta updates: capable plugins
    /// then download only the files they lack). Off: new bundles are served as zips only.
    pub delta_artifacts: bool,
}

/// Where devices download bundles from.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DownloadMode {
    /// `<public_url>/dl/<key>`: this server streams the blob from the store.
    #[default]
    Server,
    /// A presigned URL of the object store (or of `s3.public_endpoint`).
    Presigned,
}

impl std::str::FromStr for DownloadMode {
    type Err = ();
    fn from_str(text: &str) -> Result<DownloadMode, ()> {
        match text {
            "server" => Ok(DownloadMode::Server),
            "presigned" => Ok(DownloadMode::Presigned),
            _ => Err(()),
        }
    }
}

/// An S3-compatible object store. Unset values come from the standard AWS environment
/// variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
/// `AWS_ENDPOINT_URL`, ...), then from the instance's role when running on AWS.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// The S3 API endpoint (`https://<account>.r2.cloudflarestorage.com`, `http://minio:9000`);
    /// unset: AWS S3 in `region`. An `http://` endpoint allows plain HTTP.
    pub endpoint: Option<String>,
    /// Region (`us-east-1` for most S3-compatible stores).
    pub region: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`, what MinIO and Garage expect) rather than
    /// virtual-hosted style (`bucket.endpoint/key`).
    pub path_style: Option<bool>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
    /// The endpoint devices reach the store at, when it differs from `endpoint` (presigned URLs
    /// are signed for the host devices use).
    pub public_endpoint: Option<String>,
    /// `AWS_*` environment variables, captured by [`Config::load`] (never from the file).
    #[serde(skip)]
    pub aws_env: Vec<(String, String)>,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |value: &Option<String>| value.as_ref().map(|_| "<redacted>");
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &secret(&self.secret_access_key))
            .field("session_token", &secret(&self.session_token))
            .field("public_endpoint", &self.public_endpoint)
            .field("aws_env", &self.aws_env.iter().map(|(name, _)| name).collect::<Vec<_>>())
            .finish()
    }
}

/// Token-bucket rate limit per client address.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained requests per second per address; 0 turns limiting off.
    pub per_second: u32,
    /// Requests allowed in a burst.
    pub burst: u32,
    /// Header carrying the client address when behind a proxy (e.g. `x-forwarded-for`), read
    /// only from `trusted_proxies`. Unset: the TCP peer address.
    pub client_ip_header: Option<String>,
    /// Address blocks of the reverse proxies in front of the server (`["127.0.0.1", "10.0.0.0/8"]`).
    /// `client_ip_header` is honoured only on requests from these, and the client is the
    /// right-most address in it that is not one of them. Empty: the header is never read.
    pub trusted_proxies: Vec<Cidr>,
}

/// Per-address budgets of `/stats` (token buckets). A request is refused with 429 before its
/// body is read when its address has no bytes or events left; an accepted body is charged its
/// full size and event count, so one address gets at most `burst + seconds × per_second` of
/// each, plus one body.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct StatsLimitConfig {
    /// Events a second per address (0: no event budget).
    pub events_per_second: u32,
    /// Events saved up per address.
    pub events_burst: u32,
    /// Body bytes a second per address (0: no byte budget).
    pub bytes_per_second: u64,
    /// Body bytes saved up per address.
    pub bytes_burst: u64,
}

impl Default for StatsLimitConfig {
    fn default() -> Self {
        // A carrier NAT with ten thousand devices behind one address sends tens of events a
        // second at peak (plugins batch a few events a minute per device): far below these.
        StatsLimitConfig {
            events_per_second: 1_000,
            events_burst: 10_000,
            bytes_per_second: 1024 * 1024,
            bytes_burst: 8 * 1024 * 1024,
        }
    }
}

/// Bounds on the channel overrides legacy plugins store with `setChannel` (current plugins
/// keep their channel themselves; nothing is stored for them).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelSelfConfig {
    /// Most device-chosen overrides stored per app; past it, new devices are refused
    /// (`channel_override_limit`) until some are removed. Operator overrides do not count.
    pub max_overrides_per_app: usize,
    /// Stored changes a second per client address (0: unlimited).
    pub writes_per_second: u32,
    /// Stored changes saved up per address.
    pub writes_burst: u32,
    /// A device may change its stored channel at most once per this many ms.
    pub device_change_interval_ms: u64,
}

impl Default for ChannelSelfConfig {
    fn default() -> Self {
        ChannelSelfConfig {
            max_overrides_per_app: 100_000,
            writes_per_second: 2,
            writes_burst: 60,
            device_change_interval_ms: 10_000,
        }
    }
}

/// Limits on client connections, so that sockets that never finish a request cannot starve
/// the server (see `crate::connections`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionsConfig {
    /// Most open client connections; lowered at start to what the open-files limit allows.
    pub max: usize,
    /// A request's head must arrive within this many ms of the server waiting for it: after
    /// the connection opens, and after each answer (so also the idle keep-alive timeout).
    pub header_timeout_ms: u64,
    /// A device request's body must arrive within this many ms after its head.
    pub body_timeout_ms: u64,
}

impl Default for ConnectionsConfig {
    fn default() -> Self {
        ConnectionsConfig { max: 10_000, header_timeout_ms: 20_000, body_timeout_ms: 30_000 }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        // Generous: many devices share one address behind carrier NAT, and protocol.md asks
        // for 429s sparingly (legacy plugins stop talking after one).
        RateLimitConfig { per_second: 200, burst: 400, client_ip_header: None, trusted_proxies: Vec::new() }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("capstan-data"),
            listen: "127.0.0.1:8080".parse().expect("valid address"),
            management_listen: None,
            public_url: None,
            max_bundle_bytes: 512 * 1024 * 1024,
            durable_writes: true,
            device_flush_ms: 1000,
            cache_check_ms: 1000,
            device_seen_precision_ms: 5 * 60 * 1000,
            cache_ttl_ms: 5000,
            stats_queue_events: 100_000,
            rate_limit: RateLimitConfig::default(),
            connections: ConnectionsConfig::default(),
            stats_limit: StatsLimitConfig::default(),
            stats_retention_days: 0,
            channel_self: ChannelSelfConfig::default(),
            database_url: None,
            database_max_connections: 16,
            storage_url: None,
            s3: S3Config::default(),
            downloads: DownloadMode::Server,
            presigned_url_ttl_secs: 3600,
            background_jobs: true,
            release_safety_every_ms: 60_000,
            delta_artifacts: true,
        }
    }
}

/// A URL with its password replaced, for logs and error messages (the user-info password and
/// a `password=` query parameter, which PostgreSQL URLs may carry).
pub fn redact_url(url: &str) -> String {
    let (main, query) = match url.split_once('?') {
        Some((main, query)) => (main, Some(query)),
        None => (url, None),
    };
    let mut shown = match (main.find("://"), main.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &main[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}://{user}:<redacted>@{}", &main[..scheme_end], &main[at + 1..])
        }
        _ => main.to_owned(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if name.eq_ignore_ascii_case("password") => format!("{name}=<redacted>"),
                _ => pair.to_owned(),
            })
            .collect();
        shown = format!("{shown}?{}", pairs.join("&"));
    }
    shown
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("listen", &self.listen)
            .field("management_listen", &self.management_listen)
            .field("public_url", &self.public_url)
            .field("max_bundle_bytes", &self.max_bundle_bytes)
            .field("durable_writes", &self.durable_writes)
            .field("device_flush_ms", &self.device_flush_ms)
            .field("cache_check_ms", &self.cache_check_ms)
            .field("device_seen_precision_ms", &self.device_seen_precision_ms)
            .field("cache_ttl_ms", &self.cache_ttl_ms)
            .field("stats_queue_events", &self.stats_queue_events)
            .field("rate_limit", &self.rate_limit)
            .field("connections", &self.connections)
            .field("stats_limit", &self.stats_limit)
            .field("stats_retention_days", &self.stats_retention_days)
            .field("channel_self", &self.channel_self)
            .field("database_url", &self.database_url.as_deref().map(redact_url))
            .field("database_max_connections", &self.database_max_connections)
            .field("storage_url", &self.storage_url)
            .field("s3", &self.s3)
            .field("downloads", &self.downloads)
            .field("presigned_url_ttl_secs", &self.presigned_url_ttl_secs)
            .field("background_jobs", &self.background_jobs)
            .field("release_safety_every_ms", &self.release_safety_every_ms)
            .field("delta_artifacts", &self.delta_artifacts)
            .finish()
    }
}

/// A setting that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for these settings.
    #[error("invalid config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: Box<toml::de::Error>,
    },
    /// Settings that cannot work together.
    #[error("{setting}: {message}")]
    Invalid {
        /// The setting.
        setting: &'static str,
        /// What is wrong.
        message: String,
    },
    /// An environment variable has a value of the wrong kind.
    #[error("environment variable {name}: cannot read `{value}`")]
    Env {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
    },
}

impl Config {
    /// Defaults, then `file` if given, then the environment `vars` (pass `std::env::vars()`).
    pub fn load(file: Option<&Path>, vars: impl IntoIterator<Item = (String, String)>) -> Result<Config, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
                toml::from_str(&text)
                    .map_err(|source| ConfigError::Parse { path: path.to_path_buf(), source: Box::new(source) })?
            }
            None => Config::default(),
        };
        for (name, value) in vars {
            config.apply_env(&name, value)?;
        }
        Ok(config)
    }

    fn apply_env(&mut self, name: &str, value: String) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(name: &'static str, value: String) -> Result<T, ConfigError> {
            value.trim().parse().map_err(|_| ConfigError::Env { name, value })
        }
        match name {
            "CAPSTAN_DATA_DIR" => self.data_dir = PathBuf::from(value),
            "CAPSTAN_LISTEN" => self.listen = parse("CAPSTAN_LISTEN", value)?,
            "CAPSTAN_MANAGEMENT_LISTEN" => {
                self.management_listen =
                    if value.is_empty() { None } else { Some(parse("CAPSTAN_MANAGEMENT_LISTEN", value)?) }
            }
            "CAPSTAN_PUBLIC_URL" => self.public_url = Some(value).filter(|v| !v.is_empty()),
            "CAPSTAN_MAX_BUNDLE_BYTES" => self.max_bundle_bytes = parse("CAPSTAN_MAX_BUNDLE_BYTES", value)?,
            "CAPSTAN_DURABLE_WRITES" => self.durable_writes = parse("CAPSTAN_DURABLE_WRITES", value)?,
            "CAPSTAN_DEVICE_FLUSH_MS" => self.device_flush_ms = parse("CAPSTAN_DEVICE_FLUSH_MS", value)?,
            "CAPSTAN_CACHE_CHECK_MS" => self.cache_check_ms = parse("CAPSTAN_CACHE_CHECK_MS", value)?,
            "CAPSTAN_DEVICE_SEEN_PRECISION_MS" => {
                self.device_seen_precision_ms = parse("CAPSTAN_DEVICE_SEEN_PRECISION_MS", value)?
            }
            "CAPSTAN_CACHE_TTL_MS" => self.cache_ttl_ms = parse("CAPSTAN_CACHE_TTL_MS", value)?,
            "CAPSTAN_STATS_QUEUE_EVENTS" => self.stats_queue_events = parse("CAPSTAN_STATS_QUEUE_EVENTS", value)?,
            "CAPSTAN_RATE_LIMIT_PER_SECOND" => {
                self.rate_limit.per_second = parse("CAPSTAN_RATE_LIMIT_PER_SECOND", value)?
            }
            "CAPSTAN_RATE_LIMIT_BURST" => self.rate_limit.burst = parse("CAPSTAN_RATE_LIMIT_BURST", value)?,
            "CAPSTAN_CLIENT_IP_HEADER" => self.rate_limit.client_ip_header = Some(value).filter(|v| !v.is_empty()),
            "CAPSTAN_MAX_CONNECTIONS" => self.connections.max = parse("CAPSTAN_MAX_CONNECTIONS", value)?,
            "CAPSTAN_HEADER_TIMEOUT_MS" => {
                self.connections.header_timeout_ms = parse("CAPSTAN_HEADER_TIMEOUT_MS", value)?
            }
            "CAPSTAN_BODY_TIMEOUT_MS" => self.connections.body_timeout_ms = parse("CAPSTAN_BODY_TIMEOUT_MS", value)?,
            "CAPSTAN_TRUSTED_PROXIES" => {
                self.rate_limit.trusted_proxies = value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::parse)
                    .collect::<Result<_, _>>()
                    .map_err(|_| ConfigError::Env { name: "CAPSTAN_TRUSTED_PROXIES", value: value.clone() })?
            }
            "CAPSTAN_STATS_EVENTS_PER_SECOND" => {
                self.stats_limit.events_per_second = parse("CAPSTAN_STATS_EVENTS_PER_SECOND", value)?
            }
            "CAPSTAN_STATS_BYTES_PER_SECOND" => {
                self.stats_limit.bytes_per_second = parse("CAPSTAN_STATS_BYTES_PER_SECOND", value)?
            }
            "CAPSTAN_STATS_RETENTION_DAYS" => self.stats_retention_days = parse("CAPSTAN_STATS_RETENTION_DAYS", value)?,
            "CAPSTAN_DATABASE_URL" => self.database_url = Some(value).filter(|v| !v.is_empty()),
            "CAPSTAN_DATABASE_MAX_CONNECTIONS" => {
                self.database_max_connections = parse("CAPSTAN_DATABASE_MAX_CONNECTIONS", value)?
            }
            "CAPSTAN_STORAGE_URL" => self.storage_url = Some(value).filter(|v| !v.is_empty()),
            "CAPSTAN_S3_ENDPOINT" => self.s3.endpoint = Some(value).filter(|v| !v.is_empty()),
            "CAPSTAN_S3_REGION" => self.s3.region = Some(value).filter(|v| !v.is_empty()),
            "CAPSTAN_S3_PATH_STYLE" => self.s3.path_style = Some(parse("CAPSTAN_S3_PATH_STYLE", value)?),
            "CAPSTAN_S3_PUBLIC_ENDPOINT" => self.s3.public_endpoint = Some(value).filter(|v| !v.is_empty()),
            "CAPSTAN_DOWNLOADS" => self.downloads = parse("CAPSTAN_DOWNLOADS", value)?,
            "CAPSTAN_PRESIGNED_URL_TTL_SECS" => {
                self.presigned_url_ttl_secs = parse("CAPSTAN_PRESIGNED_URL_TTL_SECS", value)?
            }
            "CAPSTAN_RELEASE_SAFETY_EVERY_MS" => {
                self.release_safety_every_ms = parse("CAPSTAN_RELEASE_SAFETY_EVERY_MS", value)?
            }
            "CAPSTAN_DELTA_ARTIFACTS" => self.delta_artifacts = parse("CAPSTAN_DELTA_ARTIFACTS", value)?,
            aws if aws.starts_with("AWS_") => self.s3.aws_env.push((aws.to_owned(), value)),
            _ => {}
        }
        Ok(())
    }

    /// Checks settings that depend on each other.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.cache_check_ms == 0 || self.cache_check_ms >= self.cache_ttl_ms {
            return Err(ConfigError::Invalid {
                setting: "cache_check_ms",
                message: format!(
                    "must be above 0 and below cache_ttl_ms ({} ms): a replica must confirm its cached configuration \
                     before it expires",
                    self.cache_ttl_ms
                ),
            });
        }
        if self.release_safety_every_ms == 0 {
            return Err(ConfigError::Invalid { setting: "release_safety_every_ms", message: "must be above 0".into() });
        }
        if self.downloads == DownloadMode::Presigned && self.storage_url.is_none() {
            return Err(ConfigError::Invalid {
                setting: "downloads",
                message: "`presigned` needs an object store that signs URLs (storage_url = s3://…)".into(),
            });
        }
        if self.presigned_url_ttl_secs < 60 || self.presigned_url_ttl_secs > 7 * 24 * 3600 {
            return Err(ConfigError::Invalid {
                setting: "presigned_url_ttl_secs",
                message: "must be between 60 s and 7 days (the longest S3 allows)".into(),
            });
        }
        Ok(())
    }

    /// The base URL for download links, without a trailing slash.
    pub fn public_base_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("capstan.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\npublic_url = \"https://file.example\"\nstorage_url = \"s3://b/p\"\n\
             [rate_limit]\nper_second = 5\n[s3]\nendpoint = \"http://minio:9000\"\nsecret_access_key = \"s3cret\"\n",
        )
        .unwrap();
        let env = vec![
            ("CAPSTAN_PUBLIC_URL".to_owned(), "https://env.example/".to_owned()),
            ("HOME".to_owned(), "/x".to_owned()),
        ];
        let config = Config::load(Some(&file), env).unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.public_base_url(), "https://env.example");
        assert_eq!(config.rate_limit.per_second, 5);
        assert_eq!(config.rate_limit.burst, RateLimitConfig::default().burst);
        assert_eq!(config.s3.endpoint.as_deref(), Some("http://minio:9000"));
        assert_eq!(config.s3.secret_access_key.as_deref(), Some("s3cret"));
        assert!(!format!("{config:?}").contains("s3cret"), "secrets are not logged");
        assert!(config.check().is_ok());
    }

    #[test]
    fn bad_values_are_reported_and_secrets_redacted() {
        let err = Config::load(None, vec![("CAPSTAN_LISTEN".to_owned(), "nope".to_owned())]).unwrap_err();
        assert!(err.to_string().contains("CAPSTAN_LISTEN"));
        let config =
            Config::load(None, vec![("CAPSTAN_DATABASE_URL".to_owned(), "postgres://u:hunter2@db/x".to_owned())])
                .unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2") && shown.contains("postgres://u:<redacted>@db/x"), "{shown}");
        assert_eq!(redact_url("sqlite://file.db"), "sqlite://file.db");
        assert_eq!(
            redact_url("postgres://db/x?user=u&password=hunter2&sslmode=require"),
            "postgres://db/x?user=u&password=<redacted>&sslmode=require"
        );
        let config = Config::load(
            None,
            vec![
                ("AWS_SECRET_ACCESS_KEY".to_owned(), "s3cret".to_owned()),
                ("CAPSTAN_STORAGE_URL".to_owned(), "s3://bucket/prefix".to_owned()),
                ("CAPSTAN_DOWNLOADS".to_owned(), "presigned".to_owned()),
            ],
        )
        .unwrap();
        assert_eq!(
            (config.storage_url.as_deref(), config.downloads),
            (Some("s3://bucket/prefix"), DownloadMode::Presigned)
        );
        assert!(!format!("{config:?}").contains("s3cret"));
        assert!(Config::load(None, vec![("CAPSTAN_DOWNLOADS".to_owned(), "cdn".to_owned())]).is_err());
    }

    #[test]
    fn the_release_safety_interval_is_set_and_checked() {
        assert_eq!(Config::default().release_safety_every_ms, 60_000);
        let every = |ms: &str| Config::load(None, vec![("CAPSTAN_RELEASE_SAFETY_EVERY_MS".to_owned(), ms.to_owned())]);
        assert_eq!(every("1000").unwrap().release_safety_every_ms, 1000);
        assert!(every("soon").is_err());
        let err = every("0").unwrap().check().unwrap_err();
        assert!(err.to_string().starts_with("release_safety_every_ms"), "{err}");
    }
}
