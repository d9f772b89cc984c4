// Pure data shaping for the Stats charts: time buckets → rows keyed by action (with empty
// buckets filled in), adoption → stacked rows per channel, labels, colours and totals.
import type { Channel } from '../../bindings/Channel';
import type { ChannelAdoption } from '../../bindings/ChannelAdoption';
import type { Timeline } from '../../bindings/Timeline';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

export type RangeId = '24h' | '7d' | '30d';
export interface Range {
  id: RangeId;
  label: string;
  bucket: 'hour' | 'day';
  days: number;
}
export const RANGES: Range[] = [
  { id: '24h', label: '24 h', bucket: 'hour', days: 1 },
  { id: '7d', label: '7 days', bucket: 'hour', days: 7 },
  { id: '30d', label: '30 days', bucket: 'day', days: 30 },
];

export function rangeById(id: RangeId): Range {
  return RANGES.find((r) => r.id === id) ?? RANGES[1];
}

/** Actions that mean a bundle failed on a device (same rule as the server). */
export function isFailure(action: string): boolean {
  return (
    ['update_fail', 'set_fail', 'download_fail', 'checksum_fail', 'unzip_fail', 'decrypt_fail'].includes(action) ||
    action.endsWith('_path_fail')
  );
}

/** Actions that mean a device went back from a bundle. */
export function isRollback(action: string): boolean {
  return action === 'update_fail' || action === 'reset';
}

const ACTION_WORDS: Record<string, string> = {
  set: 'Installs',
  download_fail: 'Download failed',
  update_fail: 'Update failed (rolled back)',
  checksum_fail: 'Checksum failed',
  unzip_fail: 'Unzip failed',
  decrypt_fail: 'Decrypt failed',
  set_fail: 'Set failed',
  reset: 'Reset to store build',
};

/** A device action in words for legends and tooltips. */
export function actionLabel(action: string): string {
  return ACTION_WORDS[action] ?? action.replace(/_/g, ' ');
}

/** Fixed palette, mid-tone so it reads on light and dark panels. Rollbacks are the reds. */
const ACTION_COLORS: Record<string, string> = {
  set: '#3b82f6',
  update_fail: '#e5484d',
  reset: '#c2185b',
  download_fail: '#f59e0b',
  checksum_fail: '#8b5cf6',
  unzip_fail: '#14b8a6',
  decrypt_fail: '#0ea5e9',
  set_fail: '#84cc16',
};
const SERIES_PALETTE = ['#3b82f6', '#22c55e', '#f59e0b', '#a855f7', '#14b8a6', '#ec4899', '#eab308', '#0ea5e9', '#f97316'];
const NEUTRAL = '#94a3b8';

export function actionColor(action: string): string {
  return ACTION_COLORS[action] ?? NEUTRAL;
}

/** Colour of the n-th bundle version in a stacked chart; the store build is neutral grey. */
export function versionColor(version: string, index: number): string {
  return version === 'builtin' ? NEUTRAL : SERIES_PALETTE[index % SERIES_PALETTE.length];
}

export interface LabelOptions {
  locale?: string;
  timeZone?: string;
}

/** A bucket's start for an axis: time of day for hour buckets, weekday too past a day, date for days. */
export function bucketLabel(startMs: number, bucketMs: number, spanDays: number, opts: LabelOptions = {}): string {
  const base: Intl.DateTimeFormatOptions = opts.timeZone ? { timeZone: opts.timeZone } : {};
  const format: Intl.DateTimeFormatOptions =
    bucketMs >= DAY_MS
      ? { ...base, month: 'short', day: 'numeric' }
      : spanDays > 1
        ? { ...base, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }
        : { ...base, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
  return new Intl.DateTimeFormat(opts.locale, format).format(new Date(startMs));
}

/** One bucket of the timeline: its start, label, and one numeric column per action. */
export interface TimelineRow {
  start_ms: number;
  label: string;
  [action: string]: number | string;
}

export interface TimelineChart {
  rows: TimelineRow[];
  /** Failure and rollback actions present, failures first, rollbacks (highlighted) last. */
  failureActions: string[];
}

/** Most buckets a chart will draw, whatever the server says (30 days of hours is 720). */
const MAX_BUCKETS = 2000;

/**
 * Timeline → chart rows, one per bucket from `now - days` to now, missing buckets as zeros,
 * every action that appears anywhere present (0) in every row.
 */
export function timelineRows(timeline: Timeline, days: number, nowMs: number, opts: LabelOptions = {}): TimelineChart {
  const bucketMs = timeline.bucket_ms;
  const actions = [...new Set(timeline.buckets.map((b) => b.action))];
  const starts = new Set<number>(timeline.buckets.map((b) => b.start_ms));
  if (bucketMs > 0) {
    const first = Math.floor((nowMs - days * DAY_MS) / bucketMs) * bucketMs;
    const last = Math.floor(nowMs / bucketMs) * bucketMs;
    if ((last - first) / bucketMs < MAX_BUCKETS) {
      for (let start = first; start <= last; start += bucketMs) starts.add(start);
    }
  }
  const ordered = [...starts].sort((a, b) => a - b);
  const byStart = new Map<number, TimelineRow>();
  for (const start of ordered) {
    const row: TimelineRow = { start_ms: start, label: bucketLabel(start, bucketMs, days, opts) };
    row.set = 0;
    for (const action of actions) row[action] = 0;
    byStart.set(start, row);
  }
  for (const b of timeline.buckets) {
    const row = byStart.get(b.start_ms)!;
    row[b.action] = (row[b.action] as number) + b.count;
  }
  const failureActions = actions
    .filter((a) => isFailure(a) || isRollback(a))
    .sort((a, b) => Number(isRollback(a)) - Number(isRollback(b)) || a.localeCompare(b));
  return { rows: ordered.map((s) => byStart.get(s)!), failureActions };
}

export interface TimelineSummary {
  installs: number;
  failures: number;
  rollbacks: number;
}

/** Totals over the range: installs (`set`), failures, rollbacks (`update_fail` + `reset`). */
export function summarize(timeline: Timeline): TimelineSummary {
  const sum: TimelineSummary = { installs: 0, failures: 0, rollbacks: 0 };
  for (const b of timeline.buckets) {
    if (b.action === 'set') sum.installs += b.count;
    if (isFailure(b.action)) sum.failures += b.count;
    if (isRollback(b.action)) sum.rollbacks += b.count;
  }
  return sum;
}

/** One channel as a stacked bar: devices per bundle version. */
export interface AdoptionRow {
  channel: string;
  [version: string]: number | string;
}

export interface AdoptionChart {
  rows: AdoptionRow[];
  /** Every version seen, most devices first (stable colours across channels). */
  versions: string[];
  /** Devices seen on any channel. */
  totalDevices: number;
}

export function adoptionRows(adoption: ChannelAdoption[]): AdoptionChart {
  const totals = new Map<string, number>();
  for (const channel of adoption) {
    for (const [version, devices] of Object.entries(channel.by_bundle)) {
      totals.set(version, (totals.get(version) ?? 0) + (devices ?? 0));
    }
  }
  const versions = [...totals.keys()].sort((a, b) => totals.get(b)! - totals.get(a)! || a.localeCompare(b));
  const rows = adoption.map((channel) => {
    const row: AdoptionRow = { channel: channel.channel };
    for (const version of versions) row[version] = channel.by_bundle[version] ?? 0;
    return row;
  });
  return { rows, versions, totalDevices: adoption.reduce((n, c) => n + c.active_devices, 0) };
}

/** A 0–1 share as a whole percentage for people: 0.873 → "87 %", tiny non-zero → "<1 %". */
export function formatAdoption(ratio: number): string {
  if (ratio > 0 && ratio < 0.01) return '<1 %';
  return `${Math.round(Math.min(1, Math.max(0, ratio)) * 100)} %`;
}

/** A bundle a channel serves or rolls out, and the channels doing so. */
export interface ServedVersion {
  version: string;
  channels: string[];
}

/** The bundles channels serve now (targets and rollouts; not the store build), newest first. */
export function servedVersions(channels: Channel[]): ServedVersion[] {
  const byVersion = new Map<string, string[]>();
  for (const channel of channels) {
    for (const version of channel.lanes.flatMap((l) => [l.target, l.rollout?.version])) {
      if (!version || version === 'builtin') continue;
      const names = byVersion.get(version) ?? [];
      if (!names.includes(channel.name)) names.push(channel.name);
      byVersion.set(version, names);
    }
  }
  return [...byVersion.entries()]
    .map(([version, names]) => ({ version, channels: names }))
    .sort((a, b) => b.version.localeCompare(a.version, undefined, { numeric: true }));
}

/**
 * Per bucket, how many devices had installed each bundle so far in the range: the running
 * total of its `set` events. One column per version, keyed by the version.
 */
export function adoptionOverTime(
  timelines: { version: string; timeline: Timeline }[],
  days: number,
  nowMs: number,
  opts: LabelOptions = {},
): TimelineRow[] {
  const shaped = timelines.map(({ version, timeline }) => ({ version, rows: timelineRows(timeline, days, nowMs, opts).rows }));
  const rows = new Map<number, TimelineRow>();
  for (const { version, rows: versionRows } of shaped) {
    let total = 0;
    for (const row of versionRows) {
      total += row.set as number;
      const merged = rows.get(row.start_ms) ?? { start_ms: row.start_ms, label: row.label };
      merged[version] = total;
      rows.set(row.start_ms, merged);
    }
  }
  return [...rows.values()].sort((a, b) => a.start_ms - b.start_ms);
}
