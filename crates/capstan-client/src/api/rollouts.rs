//! Release safety calls: a channel's health, its rollout plan, scheduled publishes.

use capstan_core::api::{CreatePlan, PlanView, ReleaseHealth, SchedulePublish, ScheduledPublish};
use reqwest::Method;

use super::Api;
use crate::error::ClientResult;

impl Api {
    /// The health of what a channel serves.
    pub async fn channel_health(&self, app: &str, channel: &str) -> ClientResult<Vec<ReleaseHealth>> {
        self.get(&["apps", app, "channels", channel, "health"], &()).await
    }

    /// A channel's rollout plan (the latest, whatever its status).
    pub async fn plan(&self, app: &str, channel: &str) -> ClientResult<PlanView> {
        self.get(&["apps", app, "channels", channel, "plan"], &()).await
    }

    /// Starts a rollout plan on a channel.
    pub async fn create_plan(&self, app: &str, channel: &str, body: &CreatePlan) -> ClientResult<PlanView> {
        self.send(Method::PUT, &["apps", app, "channels", channel, "plan"], Some(body)).await
    }

    /// Cancels a channel's plan (the rollout stays at its share).
    pub async fn cancel_plan(&self, app: &str, channel: &str) -> ClientResult<PlanView> {
        self.send(Method::DELETE, &["apps", app, "channels", channel, "plan"], None::<&()>).await
    }

    /// Pauses a channel's plan.
    pub async fn pause_plan(&self, app: &str, channel: &str) -> ClientResult<PlanView> {
        self.send(Method::POST, &["apps", app, "channels", channel, "plan", "pause"], None::<&()>).await
    }

    /// Resumes a channel's paused plan.
    pub async fn resume_plan(&self, app: &str, channel: &str) -> ClientResult<PlanView> {
        self.send(Method::POST, &["apps", app, "channels", channel, "plan", "resume"], None::<&()>).await
    }

    /// Schedules a publish.
    pub async fn schedule_publish(
        &self,
        app: &str,
        channel: &str,
        body: &SchedulePublish,
    ) -> ClientResult<ScheduledPublish> {
        self.send(Method::POST, &["apps", app, "channels", channel, "schedule"], Some(body)).await
    }

    /// The app's scheduled publishes.
    pub async fn schedules(&self, app: &str) -> ClientResult<Vec<ScheduledPublish>> {
        self.get(&["apps", app, "schedules"], &()).await
    }

    /// Cancels a pending scheduled publish.
    pub async fn cancel_schedule(&self, app: &str, id: i64) -> ClientResult<ScheduledPublish> {
        let id = id.to_string();
        self.send(Method::DELETE, &["apps", app, "schedules", &id], None::<&()>).await
    }
}
