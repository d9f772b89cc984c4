// Temporary (not committed): writes the preview's TypeScript bindings as the console's test does.
#[test]
fn export() {
    use ts_rs::TS;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/bindings");
    let config = ts_rs::Config::new().with_out_dir(&dir).with_large_int("number");
    capstan_core::api::ProposedChange::export_all(&config).unwrap();
    capstan_core::api::Preview::export_all(&config).unwrap();
    capstan_core::api::DeviceRecord::export_all(&config).unwrap();
}
