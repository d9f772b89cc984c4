//! Apps, created together with their default channel.

use async_trait::async_trait;
use capstan_core::api::App;

use super::{SqliteDatabase, channels::insert_channel, commit, unique_or_backend};
use crate::store::rows::AppRow;
use crate::store::{AppStore, NewAudit, NewChannel, StoreError, StoreResult};

#[async_trait]
impl AppStore for SqliteDatabase {
    async fn create_app(&self, app: &App, default_channel: &NewChannel, audit: NewAudit) -> StoreResult<App> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO apps (id, name, default_channel, created_at_ms) VALUES ($1, $2, $3, $4)")
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
        let rows: Vec<AppRow> = self.all(sqlx::query_as("SELECT * FROM apps ORDER BY id")).await?;
        Ok(rows.into_iter().map(App::from).collect())
    }

    async fn get_app(&self, id: &str) -> StoreResult<Option<App>> {
        let row: Option<AppRow> = self.one(sqlx::query_as("SELECT * FROM apps WHERE id = $1").bind(id)).await?;
        Ok(row.map(App::from))
    }

    async fn update_app(&self, app: &App, audit: NewAudit) -> StoreResult<App> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("UPDATE apps SET name = $1, default_channel = $2 WHERE id = $3")
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
}
