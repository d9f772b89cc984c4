// What a channel serves and what each action will change, in words. Pure functions, so the
// sentences a release manager confirms are unit-tested.
import type { Channel } from '../../bindings/Channel';
import type { HistoryEntry } from '../../bindings/HistoryEntry';
import type { Lane } from '../../bindings/Lane';
import { formatShare } from '../../lib/format';
import { describeLine, hasSeveralLines, laneOf } from '../../lib/lanes';

/** A target as people say it. */
export function describeTarget(target: string | null): string {
  if (target === null) return 'nothing yet (devices keep what they run)';
  if (target === 'builtin') return 'the store build';
  return target;
}

/** What every device of one native line gets, with its rollout on top. */
export function laneSentence(lane: Lane): string {
  const base = describeTarget(lane.target);
  if (!lane.rollout) return `${base} to every device`;
  return `${lane.rollout.version} to ${formatShare(lane.rollout.share_bp)} of devices, ${base} to the rest`;
}

/** What the channel serves, line by line (newest first). */
export function servesSentence(channel: Channel): string {
  const lanes = channel.lanes;
  if (lanes.length === 0) return 'Serves nothing yet (devices keep what they run).';
  if (!hasSeveralLines(lanes)) {
    const lane = lanes[0];
    if (!lane.rollout) return `Serves ${describeTarget(lane.target)} to every device.`;
    return `${formatShare(lane.rollout.share_bp)} of devices get ${lane.rollout.version}; the rest get ${describeTarget(lane.target)}.`;
  }
  const parts = lanes.map((lane) => `${describeLine(lane.min_native)}: ${laneSentence(lane)}`);
  return `Serves ${parts.join('; ')}. Each device gets the newest bundle its native version can run.`;
}

/** " on native 2.0.0+" when the channel has several lines, else "". */
function onLine(channel: Channel, lane: Lane): string {
  return hasSeveralLines(channel.lanes) ? ` on ${describeLine(lane.min_native)}` : '';
}

/**
 * The target a rollback of `lane` returns to: the server's rule, mirrored. Earlier rollbacks are
 * skipped so rolling back twice goes two releases back. Null when there is none.
 */
export function previousTarget(lane: Lane, history: HistoryEntry[]): string | null {
  const current = lane.target;
  const entry = history.find(
    (h) =>
      h.min_native === lane.min_native &&
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

export function widenConsequence(channel: Channel, lane: Lane, percent: number): Consequence {
  const rollout = lane.rollout!;
  const from = formatShare(rollout.share_bp);
  const to = formatShare(Math.round(percent * 100));
  const wider = percent * 100 > rollout.share_bp;
  return {
    title: `${wider ? 'Widen' : 'Narrow'} the ${rollout.version} rollout on ${channel.name}${onLine(channel, lane)} to ${to}?`,
    lines: [
      wider
        ? `${to} of ${channel.name}'s devices will get ${rollout.version} (now ${from}). Devices already on it keep it.`
        : `Only ${to} of ${channel.name}'s devices will be offered ${rollout.version} (now ${from}). Devices that installed it keep it until a newer bundle or a rollback reaches them.`,
      `The others keep getting ${describeTarget(lane.target)}.`,
    ],
    confirmLabel: wider ? 'Widen rollout' : 'Narrow rollout',
    danger: false,
  };
}

export function finishConsequence(channel: Channel, lane: Lane): Consequence {
  const rollout = lane.rollout!;
  return {
    title: `Finish the ${rollout.version} rollout on ${channel.name}${onLine(channel, lane)}?`,
    lines: [
      `Every device on ${channel.name}${onLine(channel, lane)} will get ${rollout.version} at its next update check (now ${formatShare(rollout.share_bp)}).`,
      `${rollout.version} becomes what the line serves, replacing ${describeTarget(lane.target)}.`,
    ],
    confirmLabel: 'Finish rollout',
    danger: false,
  };
}

export function abortConsequence(channel: Channel, lane: Lane): Consequence {
  const rollout = lane.rollout!;
  return {
    title: `Abort the ${rollout.version} rollout on ${channel.name}${onLine(channel, lane)}?`,
    lines: [
      `No more devices will be offered ${rollout.version}.`,
      `Devices that installed it are sent back to ${describeTarget(lane.target)} at their next update check.`,
    ],
    confirmLabel: 'Abort rollout',
    danger: true,
  };
}

/** Rolling one line back to `previous`, or (lane null) every line to the store build. */
export function rollbackConsequence(channel: Channel, lane: Lane | null, previous: string | null): Consequence {
  if (lane === null) {
    const lines = [
      `Every device on ${channel.name} goes back to the store build at its next update check.`,
      'Devices drop their live-update bundle and run the web layer shipped in the app store build.',
    ];
    for (const l of channel.lanes.filter((l) => l.rollout)) {
      lines.push(`The ${l.rollout!.version} rollout (${formatShare(l.rollout!.share_bp)}) ends.`);
    }
    return { title: `Roll ${channel.name} back to the store build?`, lines, confirmLabel: 'Roll back', danger: true };
  }
  const destination = describeTarget(previous);
  const lines = [
    `Every device on ${channel.name}${onLine(channel, lane)} goes from ${describeTarget(lane.target)} to ${destination} at its next update check.`,
  ];
  if (lane.rollout) lines.push(`The ${lane.rollout.version} rollout (${formatShare(lane.rollout.share_bp)}) ends.`);
  return {
    title: `Roll ${channel.name}${onLine(channel, lane)} back to ${destination}?`,
    lines,
    confirmLabel: 'Roll back',
    danger: true,
  };
}

export function promoteConsequence(from: Channel, to: Channel): Consequence {
  const served = from.lanes.filter((l) => l.target !== null);
  const lines = served.map((lane) => {
    const current = laneOf(to.lanes, lane.min_native);
    const scope = hasSeveralLines(served) || hasSeveralLines(to.lanes) ? ` on ${describeLine(lane.min_native)}` : '';
    return `Every device on ${to.name}${scope} goes from ${describeTarget(current?.target ?? null)} to ${describeTarget(lane.target)} (what ${from.name} serves) at its next update check.`;
  });
  for (const lane of from.lanes.filter((l) => l.rollout)) {
    lines.push(`${from.name}'s own rollout of ${lane.rollout!.version} is not promoted.`);
  }
  for (const lane of to.lanes.filter((l) => l.rollout && served.some((s) => s.min_native === l.min_native))) {
    lines.push(`The ${lane.rollout!.version} rollout on ${to.name} (${formatShare(lane.rollout!.share_bp)}) ends.`);
  }
  const what = served.map((l) => describeTarget(l.target)).join(' and ');
  return { title: `Promote ${what} from ${from.name} to ${to.name}?`, lines, confirmLabel: 'Promote', danger: false };
}

/** A target in a history line, where "nothing" is enough. */
function shortTarget(target: string | null): string {
  return target === null ? 'nothing' : describeTarget(target);
}

/** One history entry as a sentence: "Rolled back from 1.0.2 to 1.0.1", with its line when it has one. */
export function historySentence(entry: HistoryEntry): string {
  const sentence = historyAction(entry);
  return entry.min_native === null ? sentence : `${describeLine(entry.min_native)}: ${sentence}`;
}

function historyAction(entry: HistoryEntry): string {
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
    case 'rollout_pause':
      return rolloutAfter ? `Paused the ${rolloutAfter.version} rollout at ${formatShare(rolloutAfter.share_bp)}` : `Paused: ${after}`;
    case 'rollout_resume':
      return rolloutAfter ? `Resumed the ${rolloutAfter.version} rollout plan` : 'Resumed the rollout plan';
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
