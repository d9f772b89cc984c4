//! Apps, created together with their default channel, and the configuration snapshot devices
//! are answered from.

use std::collections::HashMap;

use async_trait::async_trait;
use capstan_core::api::{App, Channel};

use super::{SqliteDatabase, channels::insert_channel, commit, unique_or_backend};
use crate::store::rows::{AppRow, BundleRow, ChannelRow, FileRow, OverrideRow, convert};
use crate::store::sql::{
    APP_REVISION, APP_REVISIONS, BUNDLE_FILES, GET_APP, INSERT_APP, LIST_APPS, LIST_BUNDLES, LIST_CHANNELS,
    LIST_OVERRIDES, UPDATE_APP,
};
use crate::store::{AppConfig, AppStore, BundleFile, NewAudit, NewChannel, StoreError, StoreResult, served_versions};

#[async_trait]
impl AppStore for SqliteDatabase {
    async fn create_app(&self, app: &App, default_channel: &NewChannel, audit: NewAudit) -> StoreResult<App> {
        let mut tx = self.begin().await?;
        sqlx::query(INSERT_APP)
            .bind(&app.id)
            .bind(&app.name)
            .bind(&app.default_channel)
            .bind(app.created_at_ms)
            .execute(&mut *tx)
            .await
            .map_err(|e| unique_or_backend(e, || format!("app `{}` exists", app.id)))?;
        insert_channel(&mut tx, default_channel).await?;
        commit(tx, Some(&audit)).await?;
        Ok(app.clone())
    }

    async fn list_apps(&self) -> StoreResult<Vec<App>> {
        let rows: Vec<AppRow> = self.all(sqlx::query_as(LIST_APPS)).await?;
        Ok(rows.into_iter().map(App::from).collect())
    }

    async fn get_app(&self, id: &str) -> StoreResult<Option<App>> {
        let row: Option<AppRow> = self.one(sqlx::query_as(GET_APP).bind(id)).await?;
        Ok(row.map(App::from))
    }

    async fn update_app(&self, app: &App, audit: NewAudit) -> StoreResult<App> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(UPDATE_APP)
            .bind(&app.name)
            .bind(&app.default_channel)
            .bind(&app.id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        commit(tx, Some(&audit)).await?;
        Ok(app.clone())
    }

    async fn config_revisions(&self) -> StoreResult<Vec<(String, i64)>> {
        self.all(sqlx::query_as(APP_REVISIONS)).await
    }

    async fn app_config(&self, app_id: &str) -> StoreResult<Option<AppConfig>> {
        let mut tx = self.begin_read().await?;
        let revision: Option<i64> = sqlx::query_scalar(APP_REVISION)
            .bind(app_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        let Some(revision) = revision else { return Ok(None) };
        let app: AppRow =
            sqlx::query_as(GET_APP).bind(app_id).fetch_one(&mut *tx).await.map_err(StoreError::backend)?;
        let channels: Vec<ChannelRow> =
            sqlx::query_as(LIST_CHANNELS).bind(app_id).fetch_all(&mut *tx).await.map_err(StoreError::backend)?;
        let bundles: Vec<BundleRow> =
            sqlx::query_as(LIST_BUNDLES).bind(app_id).fetch_all(&mut *tx).await.map_err(StoreError::backend)?;
        let overrides: Vec<OverrideRow> =
            sqlx::query_as(LIST_OVERRIDES).bind(app_id).fetch_all(&mut *tx).await.map_err(StoreError::backend)?;
        let channels: Vec<Channel> = convert(channels)?;
        let mut files = HashMap::new();
        for version in served_versions(&channels) {
            let rows: Vec<FileRow> = sqlx::query_as(BUNDLE_FILES)
                .bind(app_id)
                .bind(&version)
                .fetch_all(&mut *tx)
                .await
                .map_err(StoreError::backend)?;
            if !rows.is_empty() {
                files.insert(version, rows.into_iter().map(BundleFile::try_from).collect::<StoreResult<_>>()?);
            }
        }
        Ok(Some(AppConfig {
            app: app.into(),
            revision,
            channels,
            bundles: convert(bundles)?,
            overrides: convert(overrides)?,
            files,
        }))
    }
}
