//! The storage contract suite against the embedded backends.

use capstan_server::store::contract::{blob_contract, database_contract};
use capstan_server::store::disk::DiskBlobStore;
use capstan_server::store::sqlite::SqliteDatabase;

#[tokio::test]
async fn sqlite_satisfies_the_database_contract() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDatabase::open(&dir.path().join("contract.db"), true).await.unwrap();
    database_contract(&db).await;
}

#[tokio::test]
async fn disk_satisfies_the_blob_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskBlobStore::open(&dir.path().join("blobs")).unwrap();
    blob_contract(&store, dir.path()).await;
}
