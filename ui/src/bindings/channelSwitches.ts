// Generated from capstan_core::api::CHANNEL_SWITCHES by src-tauri/src/bindings.rs. Do not edit.
import type { ChannelSettings } from "./ChannelSettings";

export const CHANNEL_SWITCHES: ReadonlyArray<{ key: keyof ChannelSettings; description: string }> = [
  { key: "public", description: "Devices that ask for no channel may get this one." },
  { key: "allow_self_set", description: "Devices may switch themselves to this channel (setChannel)." },
  { key: "ios", description: "Serve iOS devices." },
  { key: "android", description: "Serve Android devices." },
  { key: "electron", description: "Serve Electron apps." },
  { key: "allow_prod", description: "Serve production builds." },
  { key: "allow_dev", description: "Serve development builds." },
  { key: "allow_device", description: "Serve physical devices." },
  { key: "allow_emulator", description: "Serve emulators and simulators." },
  { key: "strategy", description: "Semver boundary a bundle may not cross relative to the device's native version." },
  { key: "block_under_native", description: "Refuse bundles older than the device's native version." },
  { key: "delivery", description: "How devices download bundles: per-file delta updates where the plugin supports them, or always the zip." },
  { key: "guard", description: "Guard: pause or roll back a served bundle whose failure rate is over the threshold with confidence (on for new channels, off for channels made before it existed)." },
  { key: "guard_threshold_bp", description: "Guard threshold: failures per 10 000 install attempts (500 = 5 %)." },
  { key: "guard_action", description: "What the guard does to a failing bundle: roll it back, or pause (hold a rollout's share and its plan)." },
];
