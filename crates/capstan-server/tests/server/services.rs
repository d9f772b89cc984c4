//! The external services some tests need: a PostgreSQL cluster and an S3 server, started by
//! `scripts/test-services.sh` (which `make test` runs) and found through its environment
//! variables. Without them a test that needs them prints one line and returns (run by hand:
//! `scripts/test-services.sh cargo test -p capstan-server`); when the script said they are
//! required (`CAPSTAN_TEST_SERVICES=required`) and one is missing, the test fails.

use capstan_server::config::{Config, S3Config};
use sqlx::Connection;

/// A fresh database on the test cluster and a fresh prefix in the test bucket.
pub struct Services {
    /// The database's URL.
    pub database_url: String,
    /// `s3://bucket/prefix`, unique to this test.
    pub storage_url: String,
    /// How to reach the S3 server.
    pub s3: S3Config,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The services, or `None` (after printing why) when they are not configured.
pub async fn services(test: &str) -> Option<Services> {
    let names = [
        "CAPSTAN_TEST_POSTGRES_URL",
        "CAPSTAN_TEST_S3_ENDPOINT",
        "CAPSTAN_TEST_S3_BUCKET",
        "CAPSTAN_TEST_S3_ACCESS_KEY",
        "CAPSTAN_TEST_S3_SECRET_KEY",
    ];
    let values: Vec<Option<String>> = names.iter().map(|n| var(n)).collect();
    if let Some(missing) = names.iter().zip(&values).find(|(_, v)| v.is_none()).map(|(n, _)| n) {
        if var("CAPSTAN_TEST_SERVICES").as_deref() == Some("required") {
            panic!("{test}: {missing} is not set, but CAPSTAN_TEST_SERVICES=required (scripts/test-services.sh)");
        }
        eprintln!("skipped {test}: needs PostgreSQL and S3 ({missing} unset; run under scripts/test-services.sh)");
        return None;
    }
    let [Some(admin), Some(endpoint), Some(bucket), Some(key), Some(secret)] = <[_; 5]>::try_from(values).unwrap()
    else {
        unreachable!()
    };
    // Short: PostgreSQL cuts identifiers at 63 bytes, and s3s-fs answers 500 to keys under a
    // prefix as long as a long test's name (seen with a 64-character one).
    let test: String = test.chars().take(32).collect();
    let name = format!("capstan_{}_{}", test.replace(|c: char| !c.is_ascii_alphanumeric(), "_"), random_suffix());
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect to the test cluster");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
    let (base, _) = admin.rsplit_once('/').expect("the URL names a database");
    Some(Services {
        database_url: format!("{base}/{name}"),
        storage_url: format!("s3://{bucket}/{name}"),
        s3: S3Config {
            endpoint: Some(endpoint),
            region: Some("us-east-1".into()),
            path_style: Some(true),
            access_key_id: Some(key),
            secret_access_key: Some(secret),
            ..S3Config::default()
        },
    })
}

impl Services {
    /// `config` pointed at these services.
    pub fn apply(&self, config: &mut Config) {
        config.database_url = Some(self.database_url.clone());
        config.storage_url = Some(self.storage_url.clone());
        config.s3 = self.s3.clone();
    }

    /// A connection to the database, for checks the API does not offer.
    pub async fn connect(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.database_url).await.unwrap()
    }
}

fn random_suffix() -> String {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).unwrap();
    hex::encode(bytes)
}
