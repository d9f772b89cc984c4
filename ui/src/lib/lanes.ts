// A channel serves each native line its own bundle (the server's `Lane`, keyed by the bundles'
// MIN_NATIVE_VERSION). These helpers say lines the way the server and the CLI do.
import type { Lane } from '../bindings/Lane';
import { compareSemver, parseSemver } from './semver';

/** A native line as people say it: "native 2.0.0+", or "any native version". */
export function describeLine(minNative: string | null): string {
  return minNative === null ? 'any native version' : `native ${minNative}+`;
}

/** Who a line reaches, as a subject: "2.0.0+ shells", or "every shell". */
export function lineShells(minNative: string | null): string {
  return minNative === null ? 'every shell' : `${minNative}+ shells`;
}

/** The line keyed by `minNative`. */
export function laneOf(lanes: Lane[], minNative: string | null): Lane | undefined {
  return lanes.find((l) => l.min_native === minNative);
}

/** The newest bundle a line serves (target or rollout), which a new version on it must exceed. */
export function newestOnLine(lane: Lane | undefined): string | null {
  if (!lane) return null;
  const versions = [lane.target, lane.rollout?.version].filter((v): v is string => !!v && v !== 'builtin');
  const order = (a: string, b: string) => {
    const [x, y] = [parseSemver(a), parseSemver(b)];
    return x && y ? compareSemver(x, y) : a.localeCompare(b);
  };
  return versions.sort(order).pop() ?? null;
}

/** Whether lines need naming: a channel with one line speaks of the channel. */
export function hasSeveralLines(lanes: Lane[]): boolean {
  return lanes.length > 1;
}

/** A MIN_NATIVE_VERSION as the server keys lines: `2` and `2.0` are `2.0.0`; null if empty. */
export function lineKey(minNative: string): string | null {
  const text = minNative.trim().replace(/^v/i, '');
  if (text === '') return null;
  const core = text.split(/[-+]/)[0];
  const parts = core.split('.');
  while (parts.length < 3) parts.push('0');
  return parts.join('.') + text.slice(core.length);
}
