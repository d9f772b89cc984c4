//! What the SQLite device flush costs per device, alone on the machine: CPU (user and system)
//! and bytes handed to `write` system calls (WAL frames, checkpoints, and any statement journal),
//! for 200,000 new devices shaped like `bench/updates`' written in batches, as the server's
//! flush writes them. A diagnostic for bench/updates/PROFILE.md, not a benchmark: it has no
//! baseline, so compare two builds or two schemas by alternating runs.
//!
//! ```sh
//! cargo run --release -p capstan-server --example device_flush_cost
//! # what an index or a trigger costs: drop it first
//! FLUSH_COST_SQL="DROP INDEX devices_by_decision_inputs" cargo run --release -p capstan-server --example device_flush_cost
//! # another schema: any SQL script run on the migrated database before the flush
//! FLUSH_COST_SQL="$(cat other_schema.sql)" cargo run --release -p capstan-server --example device_flush_cost
//! ```
//! `FLUSH_COST_BATCH` sets the devices per call (default 25,000, the server's transaction size).

use std::time::Instant;

use capstan_core::api::DeviceRecord;
use capstan_server::store::DeviceStore;
use capstan_server::store::sqlite::SqliteDatabase;
use sqlx::Connection;

const DEVICES: u64 = 200_000;

/// User and system CPU seconds of this process (every thread: sqlx runs SQLite on its own).
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the ")" closing the command name: utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(") ").expect("stat format").1.split(' ').collect();
    // Clock ticks of USER_HZ, 100 per second on Linux (what `getconf CLK_TCK` prints).
    let ticks = |i: usize| fields[i].parse::<f64>().expect("ticks") / 100.0;
    (ticks(11), ticks(12))
}

/// Bytes this process passed to `write`-like system calls.
fn bytes_written() -> f64 {
    let io = std::fs::read_to_string("/proc/self/io").expect("/proc/self/io");
    io.lines().find_map(|l| l.strip_prefix("wchar:")).expect("wchar").trim().parse().expect("bytes")
}

/// A device as `bench/updates/updates.lua` makes them.
fn device(n: u64) -> DeviceRecord {
    DeviceRecord {
        app_id: "com.bench.app".into(),
        device_id: format!("{:08x}-7a1e-4c3b-9d2f-{n:012x}", n.wrapping_mul(2_654_435_761) % 4_294_967_296),
        platform: if n.is_multiple_of(3) { "ios" } else { "android" }.into(),
        native_version: "1.0.0".into(),
        bundle_version: if n.is_multiple_of(2) { "1.0.1" } else { "1.0.0" }.into(),
        plugin_version: "8.51.14".into(),
        os_version: "14".into(),
        is_prod: true,
        channel: Some("production".into()),
        on_builtin: !n.is_multiple_of(2),
        first_seen_ms: 1_000 + n as i64,
        last_seen_ms: 1_000 + n as i64,
        ..DeviceRecord::default()
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let batch: usize = std::env::var("FLUSH_COST_BATCH").ok().and_then(|v| v.parse().ok()).unwrap_or(25_000);
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("capstan.db");
    let db = SqliteDatabase::open(&path, true).await.expect("open the database");
    if let Ok(script) = std::env::var("FLUSH_COST_SQL") {
        // One script, several statements: a trigger's body has `;` of its own.
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.expect("connect");
        sqlx::raw_sql(sqlx::AssertSqlSafe(script)).execute(&mut conn).await.expect("FLUSH_COST_SQL");
        conn.close().await.expect("close");
    }
    let devices: Vec<DeviceRecord> = (0..DEVICES).map(device).collect();

    let (written, (user, system), started) = (bytes_written(), cpu_seconds(), Instant::now());
    for chunk in devices.chunks(batch) {
        db.upsert_devices(chunk).await.expect("flush");
    }
    let wall = started.elapsed().as_secs_f64();
    let (user_after, system_after) = cpu_seconds();
    let per_device = |seconds: f64| seconds * 1e6 / DEVICES as f64;
    println!(
        "{DEVICES} devices in batches of {batch}: {:.2} CPU-µs per device (user {:.2}, system {:.2}), {:.2} µs wall, \
         {:.0} bytes written per device",
        per_device(user_after - user + system_after - system),
        per_device(user_after - user),
        per_device(system_after - system),
        per_device(wall),
        (bytes_written() - written) / DEVICES as f64,
    );
}
