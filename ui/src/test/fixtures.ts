// Test data shaped like the server's answers (types generated from the Rust wire types): one
// builder per type, so a new field is added here once instead of in every test file.
import type { Bundle } from '../bindings/Bundle';
import type { Channel } from '../bindings/Channel';
import type { DeviceEvent } from '../bindings/DeviceEvent';
import type { DeviceRecord } from '../bindings/DeviceRecord';
import type { Lane } from '../bindings/Lane';
import type { PlanView } from '../bindings/PlanView';
import type { RolloutPlan } from '../bindings/RolloutPlan';

/**
 * A public production channel of com.example.app serving 1.0.0 to any native version, with
 * `overrides`; `target` and `rollout` set its one line (for channels with several, pass `lanes`).
 */
export function makeChannel(
  overrides: Partial<Channel> & { target?: string | null; rollout?: Lane['rollout'] } = {},
): Channel {
  const { target = '1.0.0', rollout = null, ...rest } = overrides;
  return {
    id: 1,
    app_id: 'com.example.app',
    name: 'production',
    lanes: target === null && rollout === null ? [] : [{ min_native: null, target, rollout }],
    revision: 1,
    created_at_ms: 0,
    updated_at_ms: 0,
    public: true,
    allow_self_set: false,
    ios: true,
    android: true,
    electron: false,
    allow_prod: true,
    allow_dev: true,
    allow_device: true,
    allow_emulator: true,
    strategy: 'none',
    block_under_native: true,
    delivery: 'delta',
    guard: true,
    guard_threshold_bp: 500,
    guard_action: 'rollback',
    ...rest,
  };
}

/** A plain (unsigned) bundle 1.0.0 of com.example.app, with `overrides`. */
export function makeBundle(overrides: Partial<Bundle> = {}): Bundle {
  return {
    app_id: 'com.example.app',
    version: '1.0.0',
    sha256: 'ab'.repeat(32),
    checksum: 'ab'.repeat(32),
    size: 1_000,
    file_count: 3,
    min_native_version: '1.0.0',
    notes: '',
    session_key: '',
    key_id: null,
    warnings: [],
    native_digest: null,
    created_by: 'ci',
    created_at_ms: 0,
    delta: null,
    ...overrides,
  };
}

/** A `set` event of bundle 1.0.0 on an Android device, with `overrides`. */
export function makeEvent(overrides: Partial<DeviceEvent> = {}): DeviceEvent {
  return {
    app_id: 'com.example.app',
    device_id: 'device-1',
    action: 'set',
    version_name: '1.0.0',
    old_version_name: '',
    platform: 'android',
    native_version: '2.0.0',
    plugin_version: '8.45.11',
    metadata: null,
    device_ts_ms: null,
    received_ms: 0,
    ...overrides,
  };
}

/** An Android production device on 1.0.0, with `overrides`. */
export function makeDevice(overrides: Partial<DeviceRecord> = {}): DeviceRecord {
  return {
    app_id: 'com.example.app',
    device_id: 'device-1',
    custom_id: '',
    platform: 'android',
    native_version: '2.0.0',
    bundle_version: '1.0.0',
    plugin_version: '8.45.11',
    os_version: '14',
    is_prod: true,
    is_emulator: false,
    channel: 'production',
    key_id: null,
    requested_channel: null,
    on_builtin: false,
    first_seen_ms: 0,
    last_seen_ms: 0,
    ...overrides,
  };
}

/**
 * The view of an active plan rolling 1.1.0 out on production in steps of 10, 50 and 100 %, at
 * its first step, next step due at `next_step_at_ms`; `plan` overrides the plan's fields.
 */
export function makePlanView(plan: Partial<RolloutPlan> = {}, overrides: Partial<PlanView> = {}): PlanView {
  return {
    plan: {
      channel: 'production',
      min_native: null,
      version: '1.1.0',
      steps_bp: [1_000, 5_000, 10_000],
      every_ms: 3_600_000,
      min_devices: 100,
      max_failure_bp: 500,
      on_failure: 'pause',
      step: 0,
      step_started_at_ms: 1_800_000_000_000,
      status: 'active',
      reason: null,
      revision: 1,
      created_by: 'me (token 1)',
      created_at_ms: 1_800_000_000_000,
      updated_at_ms: 1_800_000_000_000,
      ...plan,
    },
    next_step_at_ms: 1_800_003_600_000,
    health: null,
    ...overrides,
  };
}
