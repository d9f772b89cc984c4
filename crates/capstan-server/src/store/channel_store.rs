//! `ChannelStore` written once for both backends (`channel_store!`): channels and their
//! history. A save names the revision it read: two operators racing cannot silently overwrite
//! each other (the later one gets `Conflict`).

/// `ChannelStore` for a backend, written once: `$backend` the store type, `$bundle_exists` the
/// statement that checks a bundle exists inside a write transaction (and keeps it so until the
/// transaction ends). Expanded in each backend's `channels` module, whose `super` has the
/// backend's `Tx`, `commit` and `unique_or_backend`. A macro because sqlx's query types differ
/// per database (as `store::device_search`).
macro_rules! channel_store {
    ($backend:ty, $bundle_exists:expr) => {
        use async_trait::async_trait;
        use capstan_core::api::{Channel, HistoryEntry, WebhookEvent};

        use super::{Tx, commit, unique_or_backend};
        use $crate::store::rows::{ChannelRow, HistoryRow, convert, to_json};
        use $crate::store::sql::{
            CHANNEL_HISTORY, GET_CHANNEL, INSERT_CHANNEL, INSERT_HISTORY, LIST_CHANNELS, SAVE_CHANNEL,
        };
        use $crate::store::webhooks::enqueue_events_in;
        use $crate::store::{
            ChannelStore, NewAudit, NewChannel, NewHistory, StoreError, StoreResult, changed_meanwhile, history_columns,
        };

        /// Inserts a channel inside `tx` (also used when an app is created with its default channel).
        pub(super) async fn insert_channel(tx: &mut Tx, channel: &NewChannel) -> StoreResult<Channel> {
            let row: ChannelRow = sqlx::query_as(INSERT_CHANNEL)
                .bind(&channel.app_id)
                .bind(&channel.name)
                .bind(to_json(&channel.settings))
                .bind(channel.at_ms)
                .fetch_one(&mut **tx)
                .await
                .map_err(|e| unique_or_backend(e, || format!("channel `{}` exists", channel.name)))?;
            row.try_into()
        }

        /// Refuses a pointer at a bundle that does not exist, checked inside the transaction with
        /// `$bundle_exists`, which keeps a concurrent delete from leaving a dangling pointer.
        async fn require_bundle(tx: &mut Tx, app_id: &str, version: &str) -> StoreResult<()> {
            let found: Option<String> = sqlx::query_scalar($bundle_exists)
                .bind(app_id)
                .bind(version)
                .fetch_optional(&mut **tx)
                .await
                .map_err(StoreError::backend)?;
            found.map(|_| ()).ok_or_else(|| StoreError::Conflict(format!("bundle {version} does not exist")))
        }

        /// Saves `after` (read as `before`) with its history lines inside `tx`: the one path every
        /// change of what a channel serves takes (people, rollout plans, the guard, schedules), so each
        /// bumps the app's configuration revision (triggers) and is checked the same way.
        pub(super) async fn save_in(
            tx: &mut Tx,
            before: &Channel,
            after: &Channel,
            history: &[NewHistory],
            at_ms: i64,
        ) -> StoreResult<Channel> {
            for version in after.served_bundles() {
                require_bundle(tx, &after.app_id, version).await?;
            }
            super::signing::check_signed(tx, &after.app_id, &after.newly_served(before)).await?;
            let saved: Option<ChannelRow> = sqlx::query_as(SAVE_CHANNEL)
                .bind(to_json(&after.settings))
                .bind(to_json(&after.lanes))
                .bind(at_ms)
                .bind(before.id)
                .bind(before.revision)
                .fetch_optional(&mut **tx)
                .await
                .map_err(StoreError::backend)?;
            let Some(saved) = saved else { return Err(changed_meanwhile(before)) };
            for line in history {
                insert_history(tx, before, after, line, at_ms).await?;
            }
            saved.try_into()
        }

        /// Writes one history line of a change from `before` to `after` (the same channel when
        /// nothing it serves changed, e.g. a paused plan).
        pub(super) async fn insert_history(
            tx: &mut Tx,
            before: &Channel,
            after: &Channel,
            line: &NewHistory,
            at_ms: i64,
        ) -> StoreResult<()> {
            let columns = history_columns(before, after, line);
            sqlx::query(INSERT_HISTORY)
                .bind(before.id)
                .bind(&line.min_native)
                .bind(line.action.as_str())
                .bind(columns.target_before)
                .bind(columns.target_after)
                .bind(columns.rollout_before)
                .bind(columns.rollout_after)
                .bind(&line.actor)
                .bind(at_ms)
                .bind(&line.reason)
                .execute(&mut **tx)
                .await
                .map_err(StoreError::backend)?;
            Ok(())
        }

        #[async_trait]
        impl ChannelStore for $backend {
            async fn create_channel(&self, channel: &NewChannel, audit: NewAudit) -> StoreResult<Channel> {
                let mut tx = self.begin().await?;
                let created = insert_channel(&mut tx, channel).await?;
                commit(tx, Some(&audit)).await?;
                Ok(created)
            }

            async fn list_channels(&self, app_id: &str) -> StoreResult<Vec<Channel>> {
                let rows: Vec<ChannelRow> = self.all(sqlx::query_as(LIST_CHANNELS).bind(app_id)).await?;
                convert(rows)
            }

            async fn get_channel(&self, app_id: &str, name: &str) -> StoreResult<Option<Channel>> {
                let row: Option<ChannelRow> = self.one(sqlx::query_as(GET_CHANNEL).bind(app_id).bind(name)).await?;
                row.map(Channel::try_from).transpose()
            }

            async fn save_channel(
                &self,
                before: &Channel,
                after: &Channel,
                history: &[NewHistory],
                events: &[WebhookEvent],
                audit: NewAudit,
            ) -> StoreResult<Channel> {
                let mut tx = self.begin().await?;
                let saved = save_in(&mut tx, before, after, history, audit.at_ms).await?;
                enqueue_events_in!(&mut tx, events, audit.at_ms).await?;
                commit(tx, Some(&audit)).await?;
                Ok(saved)
            }

            async fn channel_history(&self, channel_id: i64, limit: u32) -> StoreResult<Vec<HistoryEntry>> {
                let rows: Vec<HistoryRow> =
                    self.all(sqlx::query_as(CHANNEL_HISTORY).bind(channel_id).bind(i64::from(limit))).await?;
                convert(rows)
            }
        }
    };
}
pub(crate) use channel_store;
