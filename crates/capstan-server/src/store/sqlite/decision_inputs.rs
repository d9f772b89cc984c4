//! The devices' decision inputs (`store::decision_inputs`), for the fleet preview: reads go to
//! the read-only pool.

crate::store::decision_inputs::decision_input_store!(super::SqliteDatabase, sqlx::Sqlite, reader);
