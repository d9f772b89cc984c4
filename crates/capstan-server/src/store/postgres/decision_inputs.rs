//! The devices' decision inputs (`store::decision_inputs`), for the fleet preview.

crate::store::decision_inputs::decision_input_store!(super::PostgresDatabase, sqlx::Postgres, pool);
