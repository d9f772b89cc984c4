//! Webhooks, their deliveries and the delivery log on SQLite (written once for both backends:
//! `store::webhooks::webhook_store`).

crate::store::webhooks::webhook_store!(super::SqliteDatabase);
