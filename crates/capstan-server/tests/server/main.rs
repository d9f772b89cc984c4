//! Integration suite of the update server: real HTTP on 127.0.0.1 port 0, real SQLite and a real
//! blob directory in a temporary folder. One binary, one module per area.

mod services;
mod support;

mod abuse;
mod backup;
mod channel_self;
mod contract;
mod crash;
mod delta;
mod downloads;
mod fleet;
mod hostile_input;
mod jobs;
mod lanes;
mod management;
mod metrics;
mod migrate;
mod native;
mod openapi;
mod preview;
mod roles;
mod rollout;
mod safety;
mod scale;
mod signing;
mod stats;
mod updates;
mod upgrade;
mod uploads;
mod webhooks;
