// Formatting for people: the same units the CLI prints.

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** Percentage done, 0–100, safe for a total of zero. */
export function percent(done: number, total: number): number {
  if (total <= 0) return done > 0 ? 100 : 0;
  return Math.min(100, Math.max(0, (done / total) * 100));
}

export function shortHash(sha256: string): string {
  return sha256.length > 16 ? `${sha256.slice(0, 12)}…${sha256.slice(-4)}` : sha256;
}
