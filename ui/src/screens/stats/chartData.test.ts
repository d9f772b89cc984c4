import { describe, expect, it } from 'vitest';
import type { ChannelAdoption } from '../../bindings/ChannelAdoption';
import { makeChannel } from '../../test/fixtures';
import {
  actionLabel,
  adoptionOverTime,
  servedVersions,
  adoptionRows,
  bucketLabel,
  DAY_MS,
  formatAdoption,
  HOUR_MS,
  isFailure,
  isRollback,
  rangeById,
  summarize,
  timelineRows,
} from './chartData';

const UTC = { locale: 'en-GB', timeZone: 'UTC' };
const NOW = Date.UTC(2026, 10, 23, 14, 35); // 23 Nov 2026 14:35 UTC
const HOUR_14 = Date.UTC(2026, 10, 23, 14);
const HOUR_12 = Date.UTC(2026, 10, 23, 12);

describe('timelineRows', () => {
  it('fills every hour of the range with zeros and keys counts by action', () => {
    const { rows, failureActions } = timelineRows(
      {
        bucket_ms: HOUR_MS,
        buckets: [
          { start_ms: HOUR_12, action: 'set', count: 5 },
          { start_ms: HOUR_12, action: 'download_fail', count: 1 },
          { start_ms: HOUR_14, action: 'update_fail', count: 2 },
          { start_ms: HOUR_14, action: 'set', count: 7 },
        ],
      },
      1,
      NOW,
      UTC,
    );
    // 24 h back from 14:35 floors to 14:00 yesterday: 25 hourly buckets up to 14:00 today.
    expect(rows).toHaveLength(25);
    expect(rows[0].start_ms).toBe(HOUR_14 - DAY_MS);
    expect(rows.at(-1)).toEqual({ start_ms: HOUR_14, label: '14:00', set: 7, download_fail: 0, update_fail: 2 });
    expect(rows.find((r) => r.start_ms === HOUR_12)).toMatchObject({ set: 5, download_fail: 1, update_fail: 0 });
    expect(rows.find((r) => r.start_ms === HOUR_12 - HOUR_MS)).toMatchObject({ set: 0, download_fail: 0, update_fail: 0 });
    // Failures first, rollbacks (highlighted, drawn on top) last; installs are not failures.
    expect(failureActions).toEqual(['download_fail', 'update_fail']);
  });

  it('uses day buckets and dates for the 30-day range, with `set` present even when absent', () => {
    const day = Date.UTC(2026, 10, 20);
    const { rows, failureActions } = timelineRows(
      { bucket_ms: DAY_MS, buckets: [{ start_ms: day, action: 'reset', count: 3 }] },
      30,
      NOW,
      UTC,
    );
    expect(rows).toHaveLength(31);
    expect(rows.find((r) => r.start_ms === day)).toEqual({ start_ms: day, label: '20 Nov', set: 0, reset: 3 });
    expect(failureActions).toEqual(['reset']);
  });

  it('adds up repeated buckets and keeps buckets outside the expected range', () => {
    const old = HOUR_14 - 3 * DAY_MS;
    const { rows } = timelineRows(
      {
        bucket_ms: HOUR_MS,
        buckets: [
          { start_ms: old, action: 'set', count: 1 },
          { start_ms: HOUR_14, action: 'set', count: 1 },
          { start_ms: HOUR_14, action: 'set', count: 2 },
        ],
      },
      1,
      NOW,
      UTC,
    );
    expect(rows[0]).toMatchObject({ start_ms: old, set: 1 });
    expect(rows.at(-1)).toMatchObject({ start_ms: HOUR_14, set: 3 });
  });
});

describe('bucketLabel', () => {
  it('shows the time of day, the weekday past one day, and the date for day buckets', () => {
    expect(bucketLabel(HOUR_14, HOUR_MS, 1, UTC)).toBe('14:00');
    expect(bucketLabel(HOUR_14, HOUR_MS, 7, UTC)).toBe('Mon 14:00');
    expect(bucketLabel(Date.UTC(2026, 10, 23), DAY_MS, 30, UTC)).toBe('23 Nov');
  });
});

describe('summarize', () => {
  it('counts installs, failures and rollbacks (update_fail + reset)', () => {
    expect(
      summarize({
        bucket_ms: HOUR_MS,
        buckets: [
          { start_ms: 0, action: 'set', count: 10 },
          { start_ms: 0, action: 'download_fail', count: 2 },
          { start_ms: 0, action: 'update_fail', count: 3 },
          { start_ms: 0, action: 'reset', count: 1 },
          { start_ms: 0, action: 'app_moved_to_foreground', count: 50 },
          { start_ms: HOUR_MS, action: 'set', count: 5 },
        ],
      }),
    ).toEqual({ installs: 15, failures: 5, rollbacks: 4 });
  });
});

describe('adoptionRows', () => {
  it('makes one stacked row per channel with every version, most devices first', () => {
    const adoption: ChannelAdoption[] = [
      { channel: 'production', lanes: [{ min_native: null, target: '1.0.0', rollout: null }], active_devices: 90, on_target: 80, adoption: 0.8889, by_bundle: { '1.0.0': 80, builtin: 10 }, health: [] },
      { channel: 'beta', lanes: [{ min_native: null, target: '1.1.0', rollout: null }], active_devices: 12, on_target: 12, adoption: 1, by_bundle: { '1.1.0': 12 }, health: [] },
    ];
    const chart = adoptionRows(adoption);
    expect(chart.versions).toEqual(['1.0.0', '1.1.0', 'builtin']);
    expect(chart.rows).toEqual([
      { channel: 'production', '1.0.0': 80, '1.1.0': 0, builtin: 10 },
      { channel: 'beta', '1.0.0': 0, '1.1.0': 12, builtin: 0 },
    ]);
    expect(chart.totalDevices).toBe(102);
    expect(adoptionRows([]).versions).toEqual([]);
  });
});

describe('words and ranges', () => {
  it('labels actions, classifies them and formats adoption', () => {
    expect(actionLabel('set')).toBe('Installs');
    expect(actionLabel('update_fail')).toBe('Update failed (rolled back)');
    expect(actionLabel('windows_path_fail')).toBe('windows path fail');
    expect(isFailure('windows_path_fail')).toBe(true);
    expect(isFailure('reset')).toBe(false);
    expect(isRollback('reset')).toBe(true);
    expect(formatAdoption(0.8889)).toBe('89 %');
    expect(formatAdoption(0.001)).toBe('<1 %');
    expect(formatAdoption(0)).toBe('0 %');
    expect(rangeById('24h')).toMatchObject({ bucket: 'hour', days: 1 });
    expect(rangeById('7d')).toMatchObject({ bucket: 'hour', days: 7 });
    expect(rangeById('30d')).toMatchObject({ bucket: 'day', days: 30 });
  });
});

describe('adoption of served bundles over time', () => {
  const channel = (name: string, target: string | null, rollout: string | null = null) =>
    makeChannel({ name, target, rollout: rollout ? { version: rollout, share_bp: 1000, started_at_ms: 0 } : null });

  it('lists each served bundle once with its channels, newest first, never the store build', () => {
    expect(
      servedVersions([channel('production', '1.9.0', '1.10.0'), channel('beta', '1.10.0'), channel('legacy', 'builtin')]),
    ).toEqual([
      { version: '1.10.0', channels: ['production', 'beta'] },
      { version: '1.9.0', channels: ['production'] },
    ]);
  });

  it('counts installs so far per bundle in every bucket', () => {
    const now = Date.UTC(2026, 10, 23, 12, 30);
    const hour = (h: number) => Date.UTC(2026, 10, 23, h);
    const rows = adoptionOverTime(
      [
        { version: '1.0.1', timeline: { bucket_ms: HOUR_MS, buckets: [{ start_ms: hour(9), action: 'set', count: 5 }, { start_ms: hour(11), action: 'set', count: 2 }] } },
        { version: '1.0.2', timeline: { bucket_ms: HOUR_MS, buckets: [{ start_ms: hour(11), action: 'set', count: 4 }, { start_ms: hour(11), action: 'download_fail', count: 9 }] } },
      ],
      1,
      now,
      { timeZone: 'UTC', locale: 'en-GB' },
    );
    const at = (h: number) => rows.find((r) => r.start_ms === hour(h))!;
    expect([at(8)['1.0.1'], at(9)['1.0.1'], at(10)['1.0.1'], at(11)['1.0.1'], at(12)['1.0.1']]).toEqual([0, 5, 5, 7, 7]);
    // Failures are not installs.
    expect([at(10)['1.0.2'], at(11)['1.0.2'], at(12)['1.0.2']]).toEqual([0, 4, 4]);
    expect(rows.length).toBe(25);
  });
});
