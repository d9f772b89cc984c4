// Pure shaping for the Bundles screen: joins bundles with their health and the channels
// that serve them, and turns stored inspection warnings (free-form JSON) into sentences.
import type { Bundle } from '../../bindings/Bundle';
import type { BundleHealth } from '../../bindings/BundleHealth';
import type { Channel } from '../../bindings/Channel';
import { formatBytes, formatShare } from '../../lib/format';
import { describeLine } from '../../lib/lanes';

/** A channel using a bundle: as its target for everyone, or in a percentage rollout. */
export interface ChannelUse {
  channel: string;
  kind: 'target' | 'rollout';
  /** "serves everyone" or "rollout 10 %". */
  label: string;
}

export interface BundleRowData {
  bundle: Bundle;
  health: BundleHealth;
  channels: ChannelUse[];
  hint: HealthHint;
}

export interface HealthHint {
  level: 'none' | 'ok' | 'warn';
  /** In words, e.g. "High failure rate: 12 %". */
  text: string;
}

/** Failures above this share of attempts (installs + failures) deserve a look. */
export const FAILURE_RATE_WARN = 0.05;
/** Rollbacks above this share of installs deserve a look. */
export const ROLLBACK_RATE_WARN = 0.02;

const EMPTY_HEALTH = { installs: 0, failures: {}, failures_total: 0, rollbacks: 0, active_devices: 0, on_channels: [] };

export function channelUses(version: string, channels: Channel[]): ChannelUse[] {
  const uses: ChannelUse[] = [];
  for (const channel of channels) {
    const several = channel.lanes.length > 1;
    for (const lane of channel.lanes) {
      const on = several ? ` (${describeLine(lane.min_native)})` : '';
      if (lane.target === version) {
        uses.push({ channel: channel.name, kind: 'target', label: `serves everyone${on}` });
      }
      if (lane.rollout?.version === version) {
        uses.push({ channel: channel.name, kind: 'rollout', label: `rollout ${formatShare(lane.rollout.share_bp)}${on}` });
      }
    }
  }
  return uses;
}

function percentText(ratio: number): string {
  const value = ratio * 100;
  return `${value >= 10 || Number.isInteger(value) ? Math.round(value) : value.toFixed(1)} %`;
}

/** Whether a bundle's numbers call for attention, in words. */
export function healthHint(health: Pick<BundleHealth, 'installs' | 'failures_total' | 'rollbacks'>): HealthHint {
  const { installs, failures_total: failures, rollbacks } = health;
  if (installs === 0 && failures === 0 && rollbacks === 0) return { level: 'none', text: 'No reports yet' };
  const problems: string[] = [];
  const attempts = installs + failures;
  if (failures > 0 && failures / attempts > FAILURE_RATE_WARN) {
    problems.push(`High failure rate: ${percentText(failures / attempts)}`);
  }
  if (rollbacks > 0 && (installs === 0 || rollbacks / installs > ROLLBACK_RATE_WARN)) {
    problems.push(
      installs === 0
        ? `${rollbacks} rollback${rollbacks === 1 ? '' : 's'}, no installs`
        : `Rollbacks: ${percentText(rollbacks / installs)} of installs`,
    );
  }
  return problems.length > 0 ? { level: 'warn', text: problems.join(' · ') } : { level: 'ok', text: 'Healthy' };
}

/** Failures by action, largest first, as "download_fail: 3". */
export function failureBreakdown(failures: BundleHealth['failures']): { action: string; count: number }[] {
  return Object.entries(failures)
    .filter(([, count]) => count > 0)
    .map(([action, count]) => ({ action, count }))
    .sort((a, b) => b.count - a.count || a.action.localeCompare(b.action));
}

export function bundleRows(bundles: Bundle[], health: BundleHealth[], channels: Channel[]): BundleRowData[] {
  const byVersion = new Map(health.map((h) => [h.version, h]));
  return bundles.map((bundle) => {
    const h = byVersion.get(bundle.version) ?? { version: bundle.version, ...EMPTY_HEALTH };
    return { bundle, health: h, channels: channelUses(bundle.version, channels), hint: healthHint(h) };
  });
}

function record(value: unknown): Record<string, unknown> | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

/** One stored warning in words; knows the inspector's codes and falls back to whatever is there. */
function describeWarning(item: unknown): string | null {
  if (typeof item === 'string') return item.trim() || null;
  const w = record(item);
  if (!w) return item == null ? null : String(item);
  if (typeof w.message === 'string' && w.message.trim()) return w.message;
  // Shapes like the preview's `{ warning: { code, … }, message }`.
  const inner = record(w.warning);
  if (inner) return describeWarning(inner);
  const num = (v: unknown) => (typeof v === 'number' ? v : null);
  switch (w.code) {
    case 'no_notify_app_ready':
      return 'No JavaScript file mentions notifyAppReady: the plugin rolls the bundle back unless the app calls it within 10 s';
    case 'source_maps':
      return `${num(w.count) ?? 'Some'} source map(s) included: larger downloads, and your sources become public`;
    case 'large_file':
      return `${typeof w.path === 'string' ? w.path : 'A file'} is large${num(w.size) !== null ? ` (${formatBytes(num(w.size)!)})` : ''}`;
    case 'large_bundle':
      return `Bundle is large${num(w.size) !== null ? ` (${formatBytes(num(w.size)!)} compressed)` : ''}: every device downloads it`;
    case 'large_unpacked':
      return `Files add up to ${num(w.size) !== null ? formatBytes(num(w.size)!) : 'a lot'} unzipped: every device stores that much`;
    default:
      if (typeof w.code === 'string') return w.code.replace(/_/g, ' ');
      return JSON.stringify(w);
  }
}

/** Stored inspection warnings as sentences; anything unexpected is shown rather than dropped. */
export function describeWarnings(warnings: unknown): string[] {
  if (warnings == null) return [];
  const items = Array.isArray(warnings) ? warnings : [warnings];
  return items.map(describeWarning).filter((w): w is string => !!w);
}

/**
 * What a device on the previous bundle downloads with a delta update, against the zip:
 * "83.0 kB instead of 2.1 MB"; null when the server computed no delta (first bundle of its
 * line, encrypted bundles, bundles uploaded before delta updates).
 */
export function deltaText(bundle: Pick<Bundle, 'size' | 'delta'>): string | null {
  if (bundle.delta == null) return null;
  return `${formatBytes(bundle.delta.download_bytes)} instead of ${formatBytes(bundle.size)}`;
}
