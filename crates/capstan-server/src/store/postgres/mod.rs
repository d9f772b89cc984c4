//! PostgreSQL, for several replicas sharing one database; split by concern like the SQLite
//! backend, running the same SQL where it is portable (`store::sql` says what differs).
//!
//! Migrations (`migrations/postgres`) run at start on a connection of their own, under the
//! PostgreSQL advisory lock sqlx's migrator takes (keyed by the database name), so replicas
//! starting together apply them once and the others wait, then find them applied. Every
//! transaction runs at `READ COMMITTED`; the few checks later writes rely on take row locks.

mod apps;
mod artifacts;
mod audit;
mod bundles;
mod channels;
mod decision_inputs;
mod devices;
mod encrypted_files;
mod events;
mod leases;
mod rollouts;
mod signing;
mod tokens;
mod webhooks;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Connection, FromRow, PgPool, Postgres, Transaction};

use super::sql::INSERT_AUDIT;
pub(super) use super::sql::unique_or_backend;
use super::{Database, NewAudit, StoreError, StoreResult};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long to wait for a connection (at start: for the server to answer at all).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A write transaction.
type Tx = Transaction<'static, Postgres>;

/// A typed query: `sqlx::query_as(SQL).bind(…)`.
type TypedQuery<'q, R> = sqlx::query::QueryAs<'q, Postgres, R, PgArguments>;

/// Why PostgreSQL could not be opened: the message names the database (password redacted).
#[derive(Debug, thiserror::Error)]
#[error("cannot use the database {url}: {reason}")]
pub struct PostgresOpenError {
    /// The URL, password redacted.
    pub url: String,
    /// What went wrong, in one line.
    pub reason: String,
}

/// PostgreSQL behind [`Database`].
#[derive(Debug, Clone)]
pub struct PostgresDatabase {
    pool: PgPool,
}

impl PostgresDatabase {
    /// Connects, applies migrations (under the migrator's advisory lock) and opens a pool of
    /// at most `max_connections`.
    pub async fn open(url: &str, max_connections: u32) -> Result<PostgresDatabase, PostgresOpenError> {
        let fail = |reason: String| PostgresOpenError { url: crate::config::redact_url(url), reason };
        let options =
            PgConnectOptions::from_str(url).map_err(|e| fail(one_line(&e)))?.application_name("capstan-server");
        let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, sqlx::PgConnection::connect_with(&options))
            .await
            .map_err(|_| fail(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())))?
            .map_err(|e| fail(one_line(&e)))?;
        MIGRATOR.run(&mut conn).await.map_err(|e| fail(format!("migrations failed: {}", one_line(&e))))?;
        let _ = conn.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| fail(one_line(&e)))?;
        Ok(PostgresDatabase { pool })
    }

    /// The connection pool (for the migration tool's bulk copies).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// At most one row.
    async fn one<R>(&self, query: TypedQuery<'_, R>) -> StoreResult<Option<R>>
    where
        R: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        query.fetch_optional(&self.pool).await.map_err(StoreError::backend)
    }

    /// Every row.
    async fn all<R>(&self, query: TypedQuery<'_, R>) -> StoreResult<Vec<R>>
    where
        R: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        query.fetch_all(&self.pool).await.map_err(StoreError::backend)
    }

    /// Starts a read transaction that sees one snapshot for all its statements.
    async fn begin_read(&self) -> StoreResult<Tx> {
        self.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await.map_err(StoreError::backend)
    }

    /// Starts a write transaction.
    async fn begin(&self) -> StoreResult<Tx> {
        self.pool.begin().await.map_err(StoreError::backend)
    }
}

/// An error as one line (sqlx errors may span several).
fn one_line(error: &dyn std::fmt::Display) -> String {
    error.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Ends every audited change the same way: the audit entry is written in the transaction of
/// the change it describes, then both commit together.
async fn commit(mut tx: Tx, audit: Option<&NewAudit>) -> StoreResult<()> {
    if let Some(audit) = audit {
        sqlx::query(INSERT_AUDIT)
            .bind(&audit.actor)
            .bind(&audit.app_id)
            .bind(&audit.action)
            .bind(&audit.subject)
            .bind(audit.before.as_ref().map(super::rows::to_json))
            .bind(audit.after.as_ref().map(super::rows::to_json))
            .bind(audit.at_ms)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
    }
    tx.commit().await.map_err(StoreError::backend)
}

#[async_trait]
impl Database for PostgresDatabase {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(StoreError::backend)?;
        Ok(())
    }
}
