// Words for what the Keys screen shows: which key a share of devices trusts, and the rows of
// the coverage table.
import type { KeyCoverage } from '../../bindings/KeyCoverage';
import type { KeyShare } from '../../bindings/KeyShare';

/** What a share of devices trusts, in words. */
export function trustLabel(share: Pick<KeyShare, 'trust' | 'key_id'>): string {
  switch (share.trust) {
    case 'registered':
      return `key ${share.key_id} (registered)`;
    case 'unregistered':
      return `key ${share.key_id} (not registered: a retired or unknown key)`;
    case 'unknown':
      return 'unknown: plugin 8.2–8.40.7 reports 4 characters, the same for every key';
    case 'no_key':
      return 'no key: the app has no publicKey and takes unsigned bundles only';
  }
}

export interface CoverageGroup {
  /** `All native versions`, or `Native 1.2.0`. */
  title: string;
  rows: KeyShare[];
}

/** The totals first, then one group per native version in the server's order (newest first). */
export function coverageGroups(coverage: KeyCoverage): CoverageGroup[] {
  const groups: CoverageGroup[] = [];
  if (coverage.totals.length > 0) groups.push({ title: 'All native versions', rows: coverage.totals });
  for (const share of coverage.by_native) {
    const title = `Native ${share.native_version ?? '?'}`;
    const last = groups[groups.length - 1];
    if (last && last.title === title) last.rows.push(share);
    else groups.push({ title, rows: [share] });
  }
  return groups;
}
