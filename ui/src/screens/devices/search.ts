// The device search as data: what the form holds, the filter sent, and how a search reads in words.
import type { DeviceFilter } from '../../bindings/DeviceFilter';
import type { DeviceRecord } from '../../bindings/DeviceRecord';

/** Most rows a search asks for; the server's own default too. */
export const SEARCH_LIMIT = 100;

/** Longest device id the server accepts. */
const MAX_DEVICE_ID_LEN = 64;

export interface SearchForm {
  q: string;
  channel: string;
  nativeVersion: string;
  bundle: string;
}

export const emptyForm: SearchForm = { q: '', channel: '', nativeVersion: '', bundle: '' };

function text(value: string): string | null {
  const trimmed = value.trim();
  return trimmed ? trimmed : null;
}

/** The filter the backend gets: blanks do not filter. */
export function toFilter(form: SearchForm): DeviceFilter {
  return {
    q: text(form.q),
    channel: text(form.channel),
    native_version: text(form.nativeVersion),
    bundle: text(form.bundle),
    limit: SEARCH_LIMIT,
  };
}

/** What was searched, in words: "“abc”, channel beta, native 2.0.0"; null for no criteria. */
export function describeSearch(filter: DeviceFilter): string | null {
  const parts: string[] = [];
  if (filter.q) parts.push(`“${filter.q}”`);
  if (filter.channel) parts.push(`channel ${filter.channel}`);
  if (filter.native_version) parts.push(`native version ${filter.native_version}`);
  if (filter.bundle) parts.push(`bundle ${filter.bundle}`);
  return parts.length > 0 ? parts.join(', ') : null;
}

/** Could this text be a whole device id (the server lowercases ids; at most 64 characters)? */
export function couldBeDeviceId(q: string): boolean {
  const trimmed = q.trim();
  return trimmed.length > 0 && trimmed.length <= MAX_DEVICE_ID_LEN && !/\s/.test(trimmed);
}

/**
 * The device to open straight away: when the search text is a full device id and it is the only
 * match. A prefix or a custom id that matches one device still shows the list, so nobody lands
 * on a device page they did not ask for.
 */
export function directMatch(q: string | null, results: DeviceRecord[]): DeviceRecord | null {
  if (!q || results.length !== 1) return null;
  const wanted = q.trim().toLowerCase();
  return results[0].device_id.toLowerCase() === wanted ? results[0] : null;
}
