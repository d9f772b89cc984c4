//! Channels and their history on SQLite (written once for both backends:
//! `store::channel_store`).

// The write lock is held since `BEGIN IMMEDIATE`: a delete cannot run between the check and
// the save.
crate::store::channel_store::channel_store!(super::SqliteDatabase, crate::store::sql::BUNDLE_EXISTS);
