//! Channels and their history on PostgreSQL (written once for both backends:
//! `store::channel_store`).

/// `FOR SHARE` keeps the bundle row until the saving transaction ends: a concurrent delete
/// (which takes `FOR UPDATE`) waits, or the check waits for the delete and then finds nothing.
const BUNDLE_EXISTS_FOR_SHARE: &str = "SELECT version FROM bundles WHERE app_id = $1 AND version = $2 FOR SHARE";

crate::store::channel_store::channel_store!(super::PostgresDatabase, BUNDLE_EXISTS_FOR_SHARE);
