//! The tables a Capstan database holds, described once as data: their columns, their keys and
//! how rows change. Tools that move whole databases (`capstan-server migrate`, a backup's
//! restore) read and write rows through this description instead of one query per table.
//!
//! Leases are left out: they only mean something to the replicas holding them. `id_bucket`
//! (SQLite's index helper) and `config_revision` (a cache token each database maintains with
//! triggers) are left out too: neither is data.

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Postgres, QueryBuilder, Row};

/// A column's type, as both databases store it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// INTEGER / BIGINT.
    Int,
    /// TEXT.
    Text,
    /// INTEGER 0/1 / BOOLEAN.
    Bool,
}

/// How a table's rows change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Growth {
    /// Rows are only ever appended, with increasing integer ids: a copy continues after the
    /// highest id it already holds.
    Appended,
    /// Rows are updated in place: a copy upserts every row.
    Updated,
    /// Rows are updated in place and may be deleted (bundles, overrides): a copy also removes
    /// rows the source no longer has.
    UpdatedAndDeleted,
}

/// One table.
#[derive(Debug)]
pub struct Table {
    /// Its name.
    pub name: &'static str,
    /// Copied columns and their types.
    pub columns: &'static [(&'static str, Kind)],
    /// The primary key's columns (a prefix order of rows).
    pub key: &'static [&'static str],
    /// Whether `id` comes from a sequence (PostgreSQL identity) to move past copied ids.
    pub identity: bool,
    /// How rows change.
    pub growth: Growth,
}

use Kind::{Bool, Int, Text};

/// Every table with data, parents before children (foreign keys hold at each step).
pub const TABLES: &[Table] = &[
    Table {
        name: "apps",
        columns: &[
            ("id", Text),
            ("name", Text),
            ("default_channel", Text),
            ("created_at_ms", Int),
            ("require_signed", Bool),
        ],
        key: &["id"],
        identity: false,
        growth: Growth::Updated,
    },
    Table {
        name: "signing_keys",
        columns: &[
            ("app_id", Text),
            ("key_id", Text),
            ("public_key", Text),
            ("created_by", Text),
            ("created_at_ms", Int),
        ],
        key: &["app_id", "key_id"],
        identity: false,
        growth: Growth::UpdatedAndDeleted,
    },
    Table {
        name: "tokens",
        columns: &[
            ("id", Int),
            ("name", Text),
            ("role", Text),
            ("hash", Text),
            ("created_at_ms", Int),
            ("revoked_at_ms", Int),
        ],
        key: &["id"],
        identity: true,
        growth: Growth::Updated,
    },
    Table {
        name: "channels",
        columns: &[
            ("id", Int),
            ("app_id", Text),
            ("name", Text),
            ("settings", Text),
            ("lanes", Text),
            ("revision", Int),
            ("created_at_ms", Int),
            ("updated_at_ms", Int),
        ],
        key: &["id"],
        identity: true,
        growth: Growth::Updated,
    },
    Table {
        name: "channel_history",
        columns: &[
            ("id", Int),
            ("channel_id", Int),
            ("min_native", Text),
            ("action", Text),
            ("target_before", Text),
            ("target_after", Text),
            ("rollout_before", Text),
            ("rollout_after", Text),
            ("actor", Text),
            ("at_ms", Int),
            ("reason", Text),
        ],
        key: &["id"],
        identity: true,
        growth: Growth::Appended,
    },
    Table {
        name: "rollout_plans",
        columns: &[
            ("channel_id", Int),
            ("app_id", Text),
            ("min_native", Text),
            ("version", Text),
            ("steps", Text),
            ("every_ms", Int),
            ("min_devices", Int),
            ("max_failure_bp", Int),
            ("on_failure", Text),
            ("step", Int),
            ("step_started_at_ms", Int),
            ("status", Text),
            ("reason", Text),
            ("revision", Int),
            ("created_by", Text),
            ("created_at_ms", Int),
            ("updated_at_ms", Int),
        ],
        key: &["channel_id"],
        identity: false,
        growth: Growth::Updated,
    },
    Table {
        name: "guard_trips",
        columns: &[
            ("channel_id", Int),
            ("version", Text),
            ("min_native", Text),
            ("action", Text),
            ("reason", Text),
            ("at_ms", Int),
        ],
        key: &["channel_id", "version"],
        identity: false,
        growth: Growth::Updated,
    },
    Table {
        name: "scheduled_publishes",
        columns: &[
            ("id", Int),
            ("app_id", Text),
            ("channel_id", Int),
            ("version", Text),
            ("at_ms", Int),
            ("status", Text),
            ("outcome", Text),
            ("created_by", Text),
            ("created_at_ms", Int),
        ],
        key: &["id"],
        identity: true,
        growth: Growth::Updated,
    },
    Table {
        name: "bundles",
        columns: &[
            ("app_id", Text),
            ("version", Text),
            ("sha256", Text),
            ("checksum", Text),
            ("size", Int),
            ("file_count", Int),
            ("min_native_version", Text),
            ("notes", Text),
            ("session_key", Text),
            ("key_id", Text),
            ("blob_key", Text),
            ("warnings", Text),
            ("native_fingerprint", Text),
            ("native_digest", Text),
            ("created_by", Text),
            ("created_at_ms", Int),
        ],
        key: &["app_id", "version"],
        identity: false,
        growth: Growth::UpdatedAndDeleted,
    },
    Table {
        name: "artifacts",
        columns: &[
            ("app_id", Text),
            ("sha256", Text),
            ("encoding", Text),
            ("size", Int),
            ("stored_size", Int),
            ("blob_key", Text),
            ("created_at_ms", Int),
        ],
        key: &["app_id", "sha256"],
        identity: false,
        growth: Growth::UpdatedAndDeleted,
    },
    Table {
        name: "bundle_files",
        columns: &[("app_id", Text), ("version", Text), ("position", Int), ("path", Text), ("sha256", Text)],
        key: &["app_id", "version", "position"],
        identity: false,
        growth: Growth::UpdatedAndDeleted,
    },
    Table {
        name: "encrypted_files",
        columns: &[
            ("app_id", Text),
            ("bundle_blob_key", Text),
            ("position", Int),
            ("path", Text),
            ("file_hash", Text),
            ("sha256", Text),
            ("encoding", Text),
            ("size", Int),
            ("stored_size", Int),
            ("blob_key", Text),
        ],
        key: &["bundle_blob_key", "position"],
        identity: false,
        growth: Growth::UpdatedAndDeleted,
    },
    Table {
        name: "overrides",
        columns: &[("app_id", Text), ("device_id", Text), ("channel_id", Int), ("source", Text), ("set_at_ms", Int)],
        key: &["app_id", "device_id"],
        identity: false,
        growth: Growth::UpdatedAndDeleted,
    },
    Table {
        name: "devices",
        columns: &[
            ("app_id", Text),
            ("device_id", Text),
            ("custom_id", Text),
            ("platform", Text),
            ("native_version", Text),
            ("bundle_version", Text),
            ("plugin_version", Text),
            ("os_version", Text),
            ("is_prod", Bool),
            ("is_emulator", Bool),
            ("channel", Text),
            ("key_id", Text),
            ("first_seen_ms", Int),
            ("last_seen_ms", Int),
            ("requested_channel", Text),
            ("on_builtin", Bool),
        ],
        key: &["app_id", "device_id"],
        identity: false,
        growth: Growth::Updated,
    },
    // Derived from devices by triggers (migration 0015), which also run in the target as the
    // devices are copied; the copy then sets every counter to the source's (the same figures,
    // and the zero rows of hours devices have left).
    Table {
        name: "device_activity",
        columns: &[("app_id", Text), ("hour_ms", Int), ("channel", Text), ("bundle_version", Text), ("devices", Int)],
        key: &["app_id", "hour_ms", "channel", "bundle_version"],
        identity: false,
        growth: Growth::Updated,
    },
    Table {
        name: "device_key_activity",
        columns: &[("app_id", Text), ("hour_ms", Int), ("native_version", Text), ("key_id", Text), ("devices", Int)],
        key: &["app_id", "hour_ms", "native_version", "key_id"],
        identity: false,
        growth: Growth::Updated,
    },
    Table {
        name: "events",
        columns: &[
            ("id", Int),
            ("app_id", Text),
            ("device_id", Text),
            ("device_key", Int),
            ("action", Text),
            ("version_name", Text),
            ("old_version_name", Text),
            ("platform", Text),
            ("native_version", Text),
            ("plugin_version", Text),
            ("metadata", Text),
            ("device_ts_ms", Int),
            ("received_ms", Int),
        ],
        key: &["id"],
        identity: true,
        growth: Growth::Appended,
    },
    Table {
        name: "event_counts",
        columns: &[("app_id", Text), ("hour_ms", Int), ("version_name", Text), ("action", Text), ("count", Int)],
        key: &["app_id", "hour_ms", "version_name", "action"],
        identity: false,
        growth: Growth::Updated,
    },
    Table {
        name: "health_counts",
        columns: &[
            ("app_id", Text),
            ("channel", Text),
            ("version_name", Text),
            ("native_version", Text),
            ("attempts", Int),
            ("failures", Int),
        ],
        key: &["app_id", "channel", "version_name", "native_version"],
        identity: false,
        growth: Growth::Updated,
    },
    Table {
        name: "audit",
        columns: &[
            ("id", Int),
            ("actor", Text),
            ("app_id", Text),
            ("action", Text),
            ("subject", Text),
            ("before", Text),
            ("after", Text),
            ("at_ms", Int),
        ],
        key: &["id"],
        identity: true,
        growth: Growth::Appended,
    },
    // Webhooks: removed ones keep their row (with an empty secret), so the log stays whole.
    Table {
        name: "webhooks",
        columns: &[
            ("id", Int),
            ("app_id", Text),
            ("url", Text),
            ("events", Text),
            ("secret", Text),
            ("created_by", Text),
            ("created_at_ms", Int),
            ("removed_at_ms", Int),
        ],
        key: &["id"],
        identity: true,
        growth: Growth::Updated,
    },
    Table {
        name: "webhook_deliveries",
        columns: &[
            ("id", Int),
            ("webhook_id", Int),
            ("event_id", Text),
            ("kind", Text),
            ("payload", Text),
            ("status", Text),
            ("attempts", Int),
            ("next_attempt_ms", Int),
            ("created_at_ms", Int),
            ("finished_at_ms", Int),
        ],
        key: &["id"],
        identity: true,
        growth: Growth::Updated,
    },
    Table {
        name: "webhook_attempts",
        columns: &[
            ("id", Int),
            ("delivery_id", Int),
            ("attempt", Int),
            ("at_ms", Int),
            ("status_code", Int),
            ("error", Text),
            ("duration_ms", Int),
        ],
        key: &["id"],
        identity: true,
        growth: Growth::Appended,
    },
];

/// One column's value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Value {
    /// An integer (or NULL).
    Int(Option<i64>),
    /// Text (or NULL).
    Text(Option<String>),
    /// A boolean (or NULL).
    Bool(Option<bool>),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Int(Some(v)) => write!(f, "{v}"),
            Value::Text(Some(v)) => write!(f, "{:?}", capstan_core::protocol::cut(v, 60)),
            Value::Bool(Some(v)) => write!(f, "{v}"),
            _ => f.write_str("NULL"),
        }
    }
}

/// A row: its values in [`Table::columns`] order.
pub type Values = Vec<Value>;

impl Table {
    /// The copied columns, comma-separated.
    pub fn column_list(&self) -> String {
        self.columns.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
    }

    /// Positions of the key columns in a row.
    pub fn key_positions(&self) -> Vec<usize> {
        self.key.iter().map(|k| self.columns.iter().position(|(name, _)| name == k).expect("key is a column")).collect()
    }

    /// The key of a row.
    pub fn key_of(&self, row: &Values) -> Values {
        self.key_positions().into_iter().map(|i| row[i].clone()).collect()
    }

    /// `SELECT columns FROM table [WHERE key > $..] ORDER BY key LIMIT n`, in the byte order of
    /// text on both databases (PostgreSQL's columns use the "C" collation, as SQLite's BINARY).
    pub fn page_query(&self, after: bool, limit: usize) -> String {
        let key = self.key.join(", ");
        let placeholders = (1..=self.key.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
        let filter = if after { format!(" WHERE ({key}) > ({placeholders})") } else { String::new() };
        format!("SELECT {} FROM {}{filter} ORDER BY {key} LIMIT {limit}", self.column_list(), self.name)
    }

    /// Rows per page and per insert statement: under PostgreSQL's 65 535 bind parameters.
    pub fn page_rows(&self) -> usize {
        (60_000 / self.columns.len()).min(5_000)
    }
}

/// Reads one column of a SQLite row.
pub fn sqlite_value(row: &SqliteRow, name: &str, kind: Kind) -> Result<Value, sqlx::Error> {
    Ok(match kind {
        Kind::Int => Value::Int(row.try_get(name)?),
        Kind::Text => Value::Text(row.try_get(name)?),
        Kind::Bool => Value::Bool(row.try_get(name)?),
    })
}

/// Reads one column of a PostgreSQL row.
pub fn postgres_value(row: &PgRow, name: &str, kind: Kind) -> Result<Value, sqlx::Error> {
    Ok(match kind {
        Kind::Int => Value::Int(row.try_get(name)?),
        Kind::Text => Value::Text(row.try_get(name)?),
        Kind::Bool => Value::Bool(row.try_get(name)?),
    })
}

/// `INSERT INTO table (columns) VALUES …` for `rows`, upserting on the key when the table's
/// rows are updated in place (and only when something differs, so triggers fire for changes).
pub fn postgres_insert(table: &Table, rows: &[Values]) -> QueryBuilder<Postgres> {
    let mut query = QueryBuilder::new(format!("INSERT INTO {} ({}) ", table.name, table.column_list()));
    query.push_values(rows, |mut separated, row| {
        for value in row {
            match value {
                Value::Int(v) => separated.push_bind(*v),
                Value::Text(v) => separated.push_bind(v.as_deref()),
                Value::Bool(v) => separated.push_bind(*v),
            };
        }
    });
    let others: Vec<&str> =
        table.columns.iter().map(|(name, _)| *name).filter(|name| !table.key.contains(name)).collect();
    if table.growth != Growth::Appended && !others.is_empty() {
        let sets = others.iter().map(|c| format!("{c} = excluded.{c}")).collect::<Vec<_>>().join(", ");
        let old = others.iter().map(|c| format!("{}.{c}", table.name)).collect::<Vec<_>>().join(", ");
        let new = others.iter().map(|c| format!("excluded.{c}")).collect::<Vec<_>>().join(", ");
        query.push(format!(
            " ON CONFLICT ({}) DO UPDATE SET {sets} WHERE ({old}) IS DISTINCT FROM ({new})",
            table.key.join(", ")
        ));
    }
    query
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_the_key() {
        let devices = TABLES.iter().find(|t| t.name == "devices").unwrap();
        assert_eq!(
            devices.page_query(true, 10),
            format!(
                "SELECT {} FROM devices WHERE (app_id, device_id) > ($1, $2) ORDER BY app_id, device_id LIMIT 10",
                devices.column_list()
            )
        );
        assert!(TABLES.iter().all(|t| t.page_rows() * t.columns.len() < 65_535));
        assert!(TABLES.iter().all(|t| !t.identity || t.key == ["id"]));
    }
}
