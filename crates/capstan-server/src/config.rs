//! Server settings: defaults, then an optional TOML file, then `CAPSTAN_*` environment
//! variables (each layer overrides the one before, as container deployments expect).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

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
    /// How long an app's channel and bundle configuration is served from memory before it is
    /// re-read (local writes invalidate at once; this bounds staleness across several servers).
    pub cache_ttl_ms: u64,
    /// Most stats events waiting for the writer; beyond that devices get 503 and retry.
    pub stats_queue_events: usize,
    /// Per-client-address rate limit on device endpoints.
    pub rate_limit: RateLimitConfig,
    /// Database URL for an external database (reserved for PostgreSQL; may hold a password).
    pub database_url: Option<String>,
    /// Run periodic jobs (rollout plans, retention) on a timer. Tests that move an injected
    /// clock turn it off and run the jobs themselves.
    pub background_jobs: bool,
    /// Store every file of a plain bundle on its own at upload (delta updates: capable plugins
    /// then download only the files they lack). Off: new bundles are served as zips only.
    pub delta_artifacts: bool,
}

/// Token-bucket rate limit per client address.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained requests per second per address; 0 turns limiting off.
    pub per_second: u32,
    /// Requests allowed in a burst.
    pub burst: u32,
    /// Header carrying the client address when behind a proxy (e.g. `x-forwarded-for`); its
    /// first address is used. Unset: the TCP peer address.
    pub client_ip_header: Option<String>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        // Generous: many devices share one address behind carrier NAT, and protocol.md asks
        // for 429s sparingly (legacy plugins stop talking after one).
        RateLimitConfig { per_second: 200, burst: 400, client_ip_header: None }
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
            cache_ttl_ms: 5000,
            stats_queue_events: 100_000,
            rate_limit: RateLimitConfig::default(),
            database_url: None,
            background_jobs: true,
            delta_artifacts: true,
        }
    }
}

/// A URL with its password replaced, for logs and error messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}://{user}:<redacted>@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
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
            .field("cache_ttl_ms", &self.cache_ttl_ms)
            .field("stats_queue_events", &self.stats_queue_events)
            .field("rate_limit", &self.rate_limit)
            .field("database_url", &self.database_url.as_deref().map(redact_url))
            .field("background_jobs", &self.background_jobs)
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
            "CAPSTAN_CACHE_TTL_MS" => self.cache_ttl_ms = parse("CAPSTAN_CACHE_TTL_MS", value)?,
            "CAPSTAN_STATS_QUEUE_EVENTS" => self.stats_queue_events = parse("CAPSTAN_STATS_QUEUE_EVENTS", value)?,
            "CAPSTAN_RATE_LIMIT_PER_SECOND" => {
                self.rate_limit.per_second = parse("CAPSTAN_RATE_LIMIT_PER_SECOND", value)?
            }
            "CAPSTAN_RATE_LIMIT_BURST" => self.rate_limit.burst = parse("CAPSTAN_RATE_LIMIT_BURST", value)?,
            "CAPSTAN_CLIENT_IP_HEADER" => self.rate_limit.client_ip_header = Some(value).filter(|v| !v.is_empty()),
            "CAPSTAN_DATABASE_URL" => self.database_url = Some(value).filter(|v| !v.is_empty()),
            "CAPSTAN_DELTA_ARTIFACTS" => self.delta_artifacts = parse("CAPSTAN_DELTA_ARTIFACTS", value)?,
            _ => {}
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
            "listen = \"0.0.0.0:9000\"\npublic_url = \"https://file.example\"\n[rate_limit]\nper_second = 5\n",
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
    }
}
