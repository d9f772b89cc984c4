import { describe, expect, it } from 'vitest';
import type { Bundle } from '../../bindings/Bundle';
import type { Channel } from '../../bindings/Channel';
import type { Lane } from '../../bindings/Lane';
import { bundleRows, channelUses, deltaText, describeWarnings, failureBreakdown, healthHint } from './bundleRows';
import { makeChannel } from '../../test/fixtures';

function channel(name: string, target: string | null, rollout: Lane['rollout'] = null): Channel {
  return makeChannel({ app_id: 'com.example', name, target, rollout, strategy: 'major', block_under_native: false });
}

describe('channelUses', () => {
  it('names channels serving a version to everyone or in a rollout', () => {
    const channels = [
      channel('production', '1.0.0'),
      channel('beta', '1.0.0', { version: '1.1.0', share_bp: 1050, started_at_ms: 0 }),
      channel('dev', 'builtin'),
    ];
    expect(channelUses('1.0.0', channels)).toEqual([
      { channel: 'production', kind: 'target', label: 'serves everyone' },
      { channel: 'beta', kind: 'target', label: 'serves everyone' },
    ]);
    expect(channelUses('1.1.0', channels)).toEqual([{ channel: 'beta', kind: 'rollout', label: 'rollout 10.5 %' }]);
    expect(channelUses('0.9.0', channels)).toEqual([]);
  });
});

describe('healthHint', () => {
  it('is quiet without reports and healthy under the thresholds', () => {
    expect(healthHint({ installs: 0, failures_total: 0, rollbacks: 0 })).toEqual({ level: 'none', text: 'No reports yet' });
    expect(healthHint({ installs: 1000, failures_total: 10, rollbacks: 5 }).level).toBe('ok');
  });
  it('warns in words about failure rate and rollbacks', () => {
    expect(healthHint({ installs: 90, failures_total: 10, rollbacks: 0 })).toEqual({
      level: 'warn',
      text: 'High failure rate: 10 %',
    });
    expect(healthHint({ installs: 100, failures_total: 0, rollbacks: 5 }).text).toBe('Rollbacks: 5 % of installs');
    expect(healthHint({ installs: 0, failures_total: 0, rollbacks: 1 }).text).toBe('1 rollback, no installs');
  });
});

describe('describeWarnings', () => {
  it('reads the inspector codes, messages and strings, and shows unknown shapes rather than dropping them', () => {
    expect(
      describeWarnings([
        { code: 'source_maps', count: 3 },
        { code: 'large_bundle', size: 12_000_000 },
        { code: 'large_unpacked', size: 2_000_000_000 },
        { code: 'x', message: 'a message' },
        'plain text',
        { code: 'brand_new_thing' },
        42,
      ]),
    ).toEqual([
      '3 source map(s) included: larger downloads, and your sources become public',
      'Bundle is large (12.0 MB compressed): every device downloads it',
      'Files add up to 2.0 GB unzipped: every device stores that much',
      'a message',
      'plain text',
      'brand new thing',
      '42',
    ]);
    expect(describeWarnings(null)).toEqual([]);
    expect(describeWarnings({ code: 'no_notify_app_ready' })[0]).toMatch(/notifyAppReady/);
  });
});

describe('bundleRows', () => {
  it('gives bundles without health numbers zeros, and sorts failures largest first', () => {
    const bundle = { version: '2.0.0' } as Bundle;
    const [row] = bundleRows([bundle], [], []);
    expect(row.health).toMatchObject({ installs: 0, failures_total: 0, rollbacks: 0, active_devices: 0 });
    expect(failureBreakdown({ unzip_fail: 1, download_fail: 4, checksum_fail: 0 })).toEqual([
      { action: 'download_fail', count: 4 },
      { action: 'unzip_fail', count: 1 },
    ]);
  });
});

describe('deltaText', () => {
  it('puts the delta download next to the zip, and says nothing without a delta', () => {
    expect(deltaText({ size: 2_100_000, delta: { from_version: '1.0.0', download_bytes: 83_000 } })).toBe(
      '83.0 kB instead of 2.1 MB',
    );
    expect(deltaText({ size: 2_100_000, delta: null })).toBeNull();
  });
});
