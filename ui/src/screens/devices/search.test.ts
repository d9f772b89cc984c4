import { describe, expect, it } from 'vitest';
import type { Channel } from '../../bindings/Channel';
import type { DeviceRecord } from '../../bindings/DeviceRecord';
import { fallbackChannel, overrideSource } from './override';
import { couldBeDeviceId, describeSearch, directMatch, toFilter } from './search';

const record = (device_id: string): DeviceRecord => ({
  app_id: 'com.example.app',
  device_id,
  custom_id: '',
  platform: 'ios',
  native_version: '2.0.0',
  bundle_version: '1.0.0',
  plugin_version: '7.0.0',
  os_version: '18.1',
  is_prod: true,
  is_emulator: false,
  channel: 'production',
  key_id: null,
  requested_channel: null,
  on_builtin: false,
  first_seen_ms: 1,
  last_seen_ms: 2,
});

const channel = (name: string, patch: Partial<Channel> = {}): Channel => ({
  id: name.length,
  app_id: 'com.example.app',
  name,
  lanes: [{ min_native: null, target: '1.0.0', rollout: null }],
  revision: 1,
  created_at_ms: 0,
  updated_at_ms: 0,
  public: false,
  allow_self_set: false,
  ios: true,
  android: true,
  electron: true,
  allow_prod: true,
  allow_dev: true,
  allow_device: true,
  allow_emulator: true,
  strategy: 'major' as Channel['strategy'],
  block_under_native: false,
  delivery: 'delta',
  guard: true,
  guard_threshold_bp: 500,
  guard_action: 'rollback',
  ...patch,
});

describe('device search', () => {
  it('sends trimmed criteria and leaves blanks out', () => {
    expect(toFilter({ q: '  ABC ', channel: '', nativeVersion: ' 2.0.0', bundle: '' })).toEqual({
      q: 'ABC',
      channel: null,
      native_version: '2.0.0',
      bundle: null,
      limit: 100,
    });
  });

  it('says what was searched', () => {
    expect(describeSearch(toFilter({ q: 'abc', channel: 'beta', nativeVersion: '', bundle: '1.2.0' }))).toBe(
      '“abc”, channel beta, bundle 1.2.0',
    );
    expect(describeSearch(toFilter({ q: '', channel: '', nativeVersion: '', bundle: '' }))).toBeNull();
  });

  it('opens a device directly only for its full id and a single match', () => {
    const one = [record('a1b2c3')];
    expect(directMatch('A1B2C3', one)?.device_id).toBe('a1b2c3');
    expect(directMatch('a1b2', one)).toBeNull();
    expect(directMatch('a1b2c3', [record('a1b2c3'), record('a1b2c3d')])).toBeNull();
    expect(directMatch(null, one)).toBeNull();
    expect(couldBeDeviceId('a1b2c3')).toBe(true);
    expect(couldBeDeviceId('two words')).toBe(false);
    expect(couldBeDeviceId('x'.repeat(65))).toBe(false);
  });
});

describe('override words', () => {
  it('names who set an override', () => {
    expect(overrideSource('operator')).toBe('set by QA');
    expect(overrideSource('device')).toBe('set by the device (setChannel)');
  });

  it('names the public channel the device falls back to on its platform', () => {
    const channels = [channel('production', { public: true, android: false }), channel('prod-android', { public: true, ios: false }), channel('beta')];
    expect(fallbackChannel(channels, 'ios')).toMatch(/default channel for ios devices: production$/);
    expect(fallbackChannel(channels, 'android')).toMatch(/: prod-android$/);
    expect(fallbackChannel(channels, null)).toMatch(/one of production, prod-android$/);
    expect(fallbackChannel([channel('beta')], 'ios')).toMatch(/no public channel serves ios devices/);
    expect(fallbackChannel(null, 'ios')).toMatch(/the app's default channel$/);
  });
});
