// The audit log in words: action names as people say them, and a one-line "what changed"
// from the before/after snapshots (free-form JSON, read defensively).
import type { AuditEntry } from '../../bindings/AuditEntry';
import { formatBytes, formatShare } from '../../lib/format';

/** The server's action strings (crates/capstan-server/src/api/*.rs) in words. */
const ACTION_WORDS: Record<string, string> = {
  'app.create': 'Created app',
  'app.update': 'Changed app',
  'bundle.upload': 'Uploaded bundle',
  'bundle.delete': 'Deleted bundle',
  'channel.create': 'Created channel',
  'channel.update': 'Changed channel settings',
  'channel.publish': 'Published',
  'channel.rollout_start': 'Started rollout',
  'channel.rollout_change': 'Changed rollout',
  'channel.rollout_finish': 'Finished rollout',
  'channel.rollout_abort': 'Aborted rollout',
  'channel.promote': 'Promoted',
  'channel.rollback': 'Rolled back',
  'device.override_set': 'Pinned device to channel',
  'device.override_clear': 'Cleared device override',
  'token.create': 'Created token',
  'token.revoke': 'Revoked token',
};

/** The action in words, or the raw action when it is one we do not know. */
export function actionInWords(action: string): string {
  return ACTION_WORDS[action] ?? action;
}

export function isKnownAction(action: string): boolean {
  return action in ACTION_WORDS;
}

/** Fields that change on every save and say nothing about what the person did. */
const NOISE = new Set(['revision', 'updated_at_ms', 'created_at_ms', 'at_ms', 'set_at_ms', 'id']);
/** Fields that name the thing, shown for creations and deletions. */
const IDENTITY = ['version', 'name', 'channel', 'role', 'target', 'size'];
const MAX_CHANGES = 3;

function record(value: unknown): Record<string, unknown> | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

/** A JSON value in a few characters. */
export function briefValue(key: string, value: unknown): string {
  if (value === null || value === undefined) return 'none';
  if (typeof value === 'string') return value === 'builtin' && key === 'target' ? 'store build' : value || '""';
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  if (typeof value === 'number') {
    if (key === 'size') return formatBytes(value);
    if (key === 'share_bp') return formatShare(value);
    return String(value);
  }
  const obj = record(value);
  if (obj && typeof obj.version === 'string' && typeof obj.share_bp === 'number') {
    return `${obj.version} at ${formatShare(obj.share_bp)}`;
  }
  if (Array.isArray(value)) return value.length === 0 ? '[]' : `[${value.length} items]`;
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function identity(snapshot: Record<string, unknown>): string[] {
  return IDENTITY.filter((k) => k in snapshot && !NOISE.has(k)).map((k) => `${k} ${briefValue(k, snapshot[k])}`);
}

function limited(parts: string[]): string {
  if (parts.length <= MAX_CHANGES) return parts.join('; ');
  return `${parts.slice(0, MAX_CHANGES).join('; ')}; +${parts.length - MAX_CHANGES} more`;
}

/** "target: 1.0.0 → 1.1.0; rollout: none → 1.1.0 at 10 %", "created: channel beta", or "—". */
export function summarizeChange(before: unknown, after: unknown): string {
  const b = record(before);
  const a = record(after);
  if (b && a) {
    const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])].filter((k) => !NOISE.has(k));
    const changes = keys
      .filter((k) => !same(b[k], a[k]))
      .map((k) => `${k}: ${briefValue(k, b[k])} → ${briefValue(k, a[k])}`);
    return changes.length > 0 ? limited(changes) : 'no visible change';
  }
  if (a && before == null) {
    const parts = identity(a);
    return parts.length > 0 ? `new: ${limited(parts)}` : 'created';
  }
  if (b && after == null) {
    const parts = identity(b);
    return parts.length > 0 ? `removed: ${limited(parts)}` : 'removed';
  }
  if (before == null && after == null) return '—';
  return `${briefValue('', before)} → ${briefValue('', after)}`;
}

/** Client-side filter: every word must appear in actor, action (raw or in words), subject or app. */
export function matchesFilter(entry: AuditEntry, text: string): boolean {
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const haystack = [entry.actor, entry.action, actionInWords(entry.action), entry.subject, entry.app_id ?? '']
    .join(' ')
    .toLowerCase();
  return words.every((w) => haystack.includes(w));
}

/** A snapshot for people: pretty JSON, or "none". */
export function prettyJson(value: unknown): string {
  if (value === null || value === undefined) return 'none';
  return JSON.stringify(value, null, 2);
}
