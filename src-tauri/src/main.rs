//! Capstan's release console: a Tauri window over `capstan-core` and `capstan-client`.
//!
//! This crate only wires windows, state and commands; every command is a thin adapter that
//! calls a use-case and maps its error to [`error::UiError`]. Nothing here is needed by the
//! CLI, and nothing depends on this crate.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]
// The unit tests (the bindings drift check, error mapping) do not start the app: commands are
// unused there.
#![cfg_attr(test, allow(dead_code))]

mod bindings;
mod commands;
mod error;
mod operations;
mod progress_events;

// Not in the unit-test build: `generate_context!` embeds the web UI by writing compressed copies
// into a shared OUT_DIR, and `cargo build --all-targets` compiles the binary and its tests at the
// same time, so two expansions raced on those files and the binary could embed a half-written
// script (the window then stayed blank).
#[cfg(not(test))]
fn main() {
    if let Err(error) = run() {
        eprintln!("error: cannot start the Capstan console: {error}");
        std::process::exit(1);
    }
}

#[cfg(not(test))]
fn run() -> tauri::Result<()> {
    tauri::Builder::default()
        .manage(operations::Operations::default())
        .invoke_handler(tauri::generate_handler![
            commands::apps::create_app,
            commands::apps::create_token,
            commands::apps::list_tokens,
            commands::apps::revoke_token,
            commands::bundle::preview_bundle,
            commands::bundle::pick_folder,
            commands::channels::change_rollout,
            commands::channels::channel_history,
            commands::channels::list_channels,
            commands::channels::promote_channel,
            commands::channels::rollback_channel,
            commands::channels::preview_change,
            commands::channels::update_channel,
            commands::channels::channel_plan,
            commands::channels::create_plan,
            commands::channels::change_plan,
            commands::insight::audit_log,
            commands::insight::bundle_health,
            commands::insight::channel_adoption,
            commands::insight::clear_device_override,
            commands::insight::device_detail,
            commands::insight::list_bundles,
            commands::insight::search_devices,
            commands::insight::set_device_override,
            commands::insight::stats_timeline,
            commands::keys::create_signing_key,
            commands::keys::export_signing_key,
            commands::keys::import_signing_key,
            commands::keys::key_coverage,
            commands::keys::keys_overview,
            commands::keys::register_signing_key,
            commands::keys::set_require_signed,
            commands::keys::show_signing_key,
            commands::webhooks::create_webhook,
            commands::webhooks::list_webhooks,
            commands::webhooks::remove_webhook,
            commands::webhooks::webhook_deliveries,
            commands::operations::cancel_operation,
            commands::publish::list_app_channels,
            commands::publish::publish_bundle,
            commands::publish::publish_defaults,
            commands::publish::check_native,
            commands::session::connect_server,
            commands::session::current_session,
            commands::session::list_profiles,
            commands::session::switch_profile,
        ])
        .run(tauri::generate_context!())
}
