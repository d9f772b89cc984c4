//! Channels and their history. A save names the revision it read: two operators racing
//! cannot silently overwrite each other (the later one gets `Conflict`).

use async_trait::async_trait;
use capstan_core::api::{Channel, HistoryEntry, Target};

use super::{SqliteDatabase, Tx, commit, unique_or_backend};
use crate::store::rows::{ChannelRow, HistoryRow, convert, rollout_text, to_json};
use crate::store::{ChannelStore, NewAudit, NewChannel, NewHistory, StoreError, StoreResult};

/// Inserts a channel inside `tx` (also used when an app is created with its default channel).
pub(super) async fn insert_channel(tx: &mut Tx, channel: &NewChannel) -> StoreResult<Channel> {
    let row: ChannelRow = sqlx::query_as(
        "INSERT INTO channels (app_id, name, settings, lanes, revision, created_at_ms, updated_at_ms) \
         VALUES ($1, $2, $3, '[]', 1, $4, $4) RETURNING *",
    )
    .bind(&channel.app_id)
    .bind(&channel.name)
    .bind(to_json(&channel.settings))
    .bind(channel.at_ms)
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| unique_or_backend(e, || format!("channel `{}` exists", channel.name)))?;
    row.try_into()
}

/// Refuses a pointer at a bundle that does not exist, checked inside the transaction so a
/// concurrent delete cannot leave a dangling pointer.
async fn require_bundle(tx: &mut Tx, app_id: &str, version: &str) -> StoreResult<()> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM bundles WHERE app_id = $1 AND version = $2")
        .bind(app_id)
        .bind(version)
        .fetch_optional(&mut **tx)
        .await
        .map_err(StoreError::backend)?;
    found.map(|_| ()).ok_or_else(|| StoreError::Conflict(format!("bundle {version} does not exist")))
}

#[async_trait]
impl ChannelStore for SqliteDatabase {
    async fn create_channel(&self, channel: &NewChannel, audit: NewAudit) -> StoreResult<Channel> {
        let mut tx = self.begin().await?;
        let created = insert_channel(&mut tx, channel).await?;
        commit(tx, Some(&audit)).await?;
        Ok(created)
    }

    async fn list_channels(&self, app_id: &str) -> StoreResult<Vec<Channel>> {
        let rows: Vec<ChannelRow> =
            self.all(sqlx::query_as("SELECT * FROM channels WHERE app_id = $1 ORDER BY id").bind(app_id)).await?;
        convert(rows)
    }

    async fn get_channel(&self, app_id: &str, name: &str) -> StoreResult<Option<Channel>> {
        let row: Option<ChannelRow> = self
            .one(sqlx::query_as("SELECT * FROM channels WHERE app_id = $1 AND name = $2").bind(app_id).bind(name))
            .await?;
        row.map(Channel::try_from).transpose()
    }

    async fn save_channel(
        &self,
        before: &Channel,
        after: &Channel,
        history: &[NewHistory],
        audit: NewAudit,
    ) -> StoreResult<Channel> {
        let mut tx = self.begin().await?;
        for lane in &after.lanes {
            let versions = lane.target_bundle().into_iter().chain(lane.rollout.as_ref().map(|r| r.version.as_str()));
            for version in versions {
                require_bundle(&mut tx, &after.app_id, version).await?;
            }
        }
        super::signing::check_signed(&mut tx, &after.app_id, &after.newly_served(before)).await?;
        // The revision in the WHERE clause is the optimistic lock: no row means someone else
        // saved since `before` was read (or the channel is gone).
        let saved: Option<ChannelRow> = sqlx::query_as(
            "UPDATE channels SET settings = $1, lanes = $2, revision = revision + 1, updated_at_ms = $3 \
             WHERE id = $4 AND revision = $5 RETURNING *",
        )
        .bind(to_json(&after.settings))
        .bind(to_json(&after.lanes))
        .bind(audit.at_ms)
        .bind(before.id)
        .bind(before.revision)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::backend)?;
        let Some(saved) = saved else {
            return Err(StoreError::Conflict(format!("channel `{}` changed meanwhile; reload and retry", before.name)));
        };
        for line in history {
            let (was, now) = (before.lane(line.min_native.as_deref()), after.lane(line.min_native.as_deref()));
            sqlx::query(
                "INSERT INTO channel_history (channel_id, min_native, action, target_before, target_after, rollout_before, \
                 rollout_after, actor, at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(before.id)
            .bind(&line.min_native)
            .bind(line.action.as_str())
            .bind(was.and_then(|l| l.target.as_ref()).map(Target::as_text))
            .bind(now.and_then(|l| l.target.as_ref()).map(Target::as_text))
            .bind(rollout_text(was.and_then(|l| l.rollout.as_ref())))
            .bind(rollout_text(now.and_then(|l| l.rollout.as_ref())))
            .bind(&line.actor)
            .bind(audit.at_ms)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        }
        commit(tx, Some(&audit)).await?;
        saved.try_into()
    }

    async fn channel_history(&self, channel_id: i64, limit: u32) -> StoreResult<Vec<HistoryEntry>> {
        let rows: Vec<HistoryRow> = self
            .all(
                sqlx::query_as(
                    "SELECT h.*, c.name AS channel FROM channel_history h JOIN channels c ON c.id = h.channel_id \
             WHERE h.channel_id = $1 ORDER BY h.id DESC LIMIT $2",
                )
                .bind(channel_id)
                .bind(i64::from(limit)),
            )
            .await?;
        convert(rows)
    }
}
