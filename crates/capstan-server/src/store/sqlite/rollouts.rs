//! Release safety on SQLite (written once for both backends: `store::rollouts::rollout_store`).

// 6 columns × 4000 stays under SQLite's 32 766 parameters.
crate::store::rollouts::rollout_store!(super::SqliteDatabase, sqlx::Sqlite, 4000);
