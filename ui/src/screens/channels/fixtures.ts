// Test data for the channel screens.
import type { Channel } from '../../bindings/Channel';

/** A production channel serving 1.0.0, with `overrides`. */
export function channel(overrides: Partial<Channel> = {}): Channel {
  return {
    id: 1,
    app_id: 'com.example.app',
    name: 'production',
    target: '1.0.0',
    rollout: null,
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
    ...overrides,
  };
}
