// The fleet preview in words: the same sentences as the CLI's `--dry-run`
// (capstan_core::api::preview), so a release manager reads the same thing in both.
import type { Preview } from '../bindings/Preview';
import type { PreviewGroup } from '../bindings/PreviewGroup';
import type { PreviewOutcome } from '../bindings/PreviewOutcome';

/** 9812 → "9,812". */
export function thousands(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function blockReason(code: string): string {
  switch (code) {
    case 'disable_auto_update_to_metadata':
      return `MIN_NATIVE_VERSION (${code})`;
    case 'disable_auto_update_under_native':
      return `the bundle being older than the native build (${code})`;
    case 'disable_auto_update_to_major':
    case 'disable_auto_update_to_minor':
    case 'disable_auto_update_to_patch':
      return `the channel's update strategy (${code})`;
    case 'key_id_mismatch':
      return 'the signing key the app trusts (key_id_mismatch)';
    default:
      return code;
  }
}

/** What devices running `current` get, in words. */
export function describeOutcome(outcome: PreviewOutcome, current: string | null): string {
  const on = current ? ` on ${current}` : '';
  switch (outcome.kind) {
    case 'receives':
      return `would receive ${outcome.version}`;
    case 'store_build':
      return 'would go back to the store build';
    case 'stays':
      return `stay${on}`;
    case 'blocked':
      return outcome.would_get === ''
        ? `stay${on}, blocked by ${blockReason(outcome.code)}`
        : `stay${on}, blocked from ${outcome.would_get} by ${blockReason(outcome.code)}`;
    case 'refused':
      return `refused (${outcome.code})`;
  }
}

function sameOutcome(a: PreviewOutcome, b: PreviewOutcome): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** One group: "9,812 would receive 1.0.3 (production; native 2.3.0; now: stay)". */
export function describeGroup(group: PreviewGroup): string {
  const context: string[] = [];
  if (group.channel != null) context.push(group.pinned ? `pinned to ${group.channel}` : group.channel);
  if (group.native_versions.length > 0) {
    const more = group.native_versions_more > 0 ? ` +${group.native_versions_more}` : '';
    context.push(`native ${group.native_versions.join(', ')}${more}`);
  }
  const now = sameOutcome(group.before, group.after) ? '' : `; now: ${describeOutcome(group.before, null)}`;
  return `${thousands(group.devices)} ${describeOutcome(group.after, group.current ?? null)} (${context.join('; ')}${now})`;
}

/** The headline: how many devices count, and how many would get another answer. */
export function describePreview(preview: Preview): string {
  return `${thousands(preview.devices)} devices seen in the last ${preview.days} days; ${thousands(preview.changed)} would get a different answer.`;
}
