// What a channel serves and what each action will change, in words. Pure functions, so the
// sentences a release manager confirms are unit-tested.
import type { Channel } from '../../bindings/Channel';
import type { HistoryEntry } from '../../bindings/HistoryEntry';
import { formatShare } from '../../lib/format';

/** A target as people say it. */
export function describeTarget(target: string | null): string {
  if (target === null) return 'nothing yet (devices keep what they run)';
  if (target === 'builtin') return 'the store build';
  return target;
}

/** What every device of the channel gets, with the rollout on top. */
export function servesSentence(channel: Channel): string {
  const base = describeTarget(channel.target);
  if (!channel.rollout) return `Serves ${base} to every device.`;
  return `${formatShare(channel.rollout.share_bp)} of devices get ${channel.rollout.version}; the rest get ${base}.`;
}

/**
 * The target a rollback to `previous` returns to: the server's rule, mirrored. Earlier
 * rollbacks are skipped so rolling back twice goes two releases back. Null when there is none.
 */
export function previousTarget(channel: Channel, history: HistoryEntry[]): string | null {
  const current = channel.target;
  const entry = history.find(
    (h) =>
      h.action !== 'rollback' &&
      h.target_after === current &&
      h.target_before !== null &&
      h.target_before !== current,
  );
  return entry?.target_before ?? null;
}

export interface Consequence {
  title: string;
  lines: string[];
  confirmLabel: string;
  danger: boolean;
}

export function widenConsequence(channel: Channel, percent: number): Consequence {
  const rollout = channel.rollout!;
  const from = formatShare(rollout.share_bp);
  const to = formatShare(Math.round(percent * 100));
  const wider = percent * 100 > rollout.share_bp;
  return {
    title: `${wider ? 'Widen' : 'Narrow'} the ${rollout.version} rollout on ${channel.name} to ${to}?`,
    lines: [
      wider
        ? `${to} of ${channel.name}'s devices will get ${rollout.version} (now ${from}). Devices already on it keep it.`
        : `Only ${to} of ${channel.name}'s devices will be offered ${rollout.version} (now ${from}). Devices that installed it keep it until a newer bundle or a rollback reaches them.`,
      `The others keep getting ${describeTarget(channel.target)}.`,
    ],
    confirmLabel: wider ? 'Widen rollout' : 'Narrow rollout',
    danger: false,
  };
}

export function finishConsequence(channel: Channel): Consequence {
  const rollout = channel.rollout!;
  return {
    title: `Finish the ${rollout.version} rollout on ${channel.name}?`,
    lines: [
      `Every device on ${channel.name} will get ${rollout.version} at its next update check (now ${formatShare(rollout.share_bp)}).`,
      `${rollout.version} becomes what ${channel.name} serves, replacing ${describeTarget(channel.target)}.`,
    ],
    confirmLabel: 'Finish rollout',
    danger: false,
  };
}

export function abortConsequence(channel: Channel): Consequence {
  const rollout = channel.rollout!;
  return {
    title: `Abort the ${rollout.version} rollout on ${channel.name}?`,
    lines: [
      `No more devices will be offered ${rollout.version}.`,
      `Devices that installed it are sent back to ${describeTarget(channel.target)} at their next update check.`,
    ],
    confirmLabel: 'Abort rollout',
    danger: true,
  };
}

export function rollbackConsequence(channel: Channel, to: 'previous' | 'builtin', previous: string | null): Consequence {
  const destination = to === 'builtin' ? 'the store build' : describeTarget(previous);
  const lines = [
    `Every device on ${channel.name} goes from ${describeTarget(channel.target)} to ${destination} at its next update check.`,
  ];
  if (to === 'builtin') lines.push('Devices drop their live-update bundle and run the web layer shipped in the app store build.');
  if (channel.rollout) lines.push(`The ${channel.rollout.version} rollout (${formatShare(channel.rollout.share_bp)}) ends.`);
  return {
    title: `Roll ${channel.name} back to ${destination}?`,
    lines,
    confirmLabel: 'Roll back',
    danger: true,
  };
}

export function promoteConsequence(from: Channel, to: Channel): Consequence {
  const lines = [
    `Every device on ${to.name} goes from ${describeTarget(to.target)} to ${describeTarget(from.target)} (what ${from.name} serves) at its next update check.`,
  ];
  if (from.rollout) lines.push(`${from.name}'s own rollout of ${from.rollout.version} is not promoted.`);
  if (to.rollout) lines.push(`The ${to.rollout.version} rollout on ${to.name} (${formatShare(to.rollout.share_bp)}) ends.`);
  return { title: `Promote ${describeTarget(from.target)} from ${from.name} to ${to.name}?`, lines, confirmLabel: 'Promote', danger: false };
}

/** A target in a history line, where "nothing" is enough. */
function shortTarget(target: string | null): string {
  return target === null ? 'nothing' : describeTarget(target);
}

/** One history entry as a sentence: "Rolled back from 1.0.2 to 1.0.1". */
export function historySentence(entry: HistoryEntry): string {
  const before = shortTarget(entry.target_before);
  const after = shortTarget(entry.target_after);
  const rolloutAfter = entry.rollout_after;
  const rolloutBefore = entry.rollout_before;
  switch (entry.action) {
    case 'publish':
      return `Published ${after} (was ${before})`;
    case 'rollout_start':
      return rolloutAfter ? `Started rolling out ${rolloutAfter.version} to ${formatShare(rolloutAfter.share_bp)}` : 'Started a rollout';
    case 'rollout_change':
      return rolloutAfter
        ? `Changed the ${rolloutAfter.version} rollout from ${rolloutBefore ? formatShare(rolloutBefore.share_bp) : '?'} to ${formatShare(rolloutAfter.share_bp)}`
        : 'Changed a rollout';
    case 'rollout_finish':
      return `Finished the rollout: everyone gets ${after}`;
    case 'rollout_abort':
      return rolloutBefore ? `Aborted the ${rolloutBefore.version} rollout` : 'Aborted a rollout';
    case 'promote':
      return `Promoted ${after} (was ${before})`;
    case 'rollback':
      return `Rolled back from ${before} to ${after}`;
    default:
      return `${entry.action}: ${before} → ${after}`;
  }
}

/** The channel's flags as short labels, on or off. */
export function flagLabels(channel: Channel): { label: string; on: boolean; title: string }[] {
  return [
    { label: 'public', on: channel.public, title: 'Devices without a channel of their own may get it' },
    { label: 'self-assign', on: channel.allow_self_set, title: 'Devices may switch to it themselves (setChannel)' },
    { label: 'iOS', on: channel.ios, title: 'iOS devices' },
    { label: 'Android', on: channel.android, title: 'Android devices' },
    { label: 'Electron', on: channel.electron, title: 'Electron apps' },
    { label: 'prod builds', on: channel.allow_prod, title: 'Production builds' },
    { label: 'dev builds', on: channel.allow_dev, title: 'Development builds' },
    { label: 'devices', on: channel.allow_device, title: 'Physical devices' },
    { label: 'emulators', on: channel.allow_emulator, title: 'Emulators and simulators' },
    {
      label: 'no downgrade below native',
      on: channel.block_under_native,
      title: 'Bundles older than the native version are refused',
    },
  ];
}
