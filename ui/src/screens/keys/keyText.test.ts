import { describe, expect, it } from 'vitest';
import type { KeyShare } from '../../bindings/KeyShare';
import { coverageGroups, trustLabel } from './keyText';

const share = (native: string | null, trust: KeyShare['trust'], key_id: string | null, devices: number): KeyShare => ({
  native_version: native,
  trust,
  key_id,
  devices,
  percent: 0,
});

describe('trustLabel', () => {
  it('names the key, or says why it cannot', () => {
    expect(trustLabel({ trust: 'registered', key_id: 'MIIBCgKCAQEAabcdefgh' })).toBe('key MIIBCgKCAQEAabcdefgh (registered)');
    expect(trustLabel({ trust: 'unregistered', key_id: 'MIIBCgKCAQEAold00000' })).toMatch(/not registered/);
    expect(trustLabel({ trust: 'unknown', key_id: null })).toMatch(/4 characters/);
    expect(trustLabel({ trust: 'no_key', key_id: null })).toMatch(/no publicKey/);
  });
});

describe('coverageGroups', () => {
  it('puts the totals first, then one group per native version in order', () => {
    const groups = coverageGroups({
      app_id: 'a',
      active_days: 30,
      active_devices: 5,
      totals: [share(null, 'registered', 'K', 5)],
      by_native: [share('2.0.0', 'registered', 'K', 3), share('2.0.0', 'no_key', null, 1), share('1.0.0', 'registered', 'K', 1)],
    });
    expect(groups.map((g) => [g.title, g.rows.length])).toEqual([
      ['All native versions', 1],
      ['Native 2.0.0', 2],
      ['Native 1.0.0', 1],
    ]);
  });

  it('is empty without devices', () => {
    expect(coverageGroups({ app_id: 'a', active_days: 30, active_devices: 0, totals: [], by_native: [] })).toEqual([]);
  });
});
