//! Release safety on PostgreSQL (written once for both backends: `store::rollouts::rollout_store`).

// 6 columns × 10 000 stays under PostgreSQL's 65 535 parameters.
crate::store::rollouts::rollout_store!(super::PostgresDatabase, sqlx::Postgres, 10_000);
