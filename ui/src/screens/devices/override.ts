// Channel overrides in words: who set one, and where a device goes when it is cleared.
import type { Channel } from '../../bindings/Channel';

/** Who set an override: QA from the console or the device itself through setChannel. */
export function overrideSource(source: string): string {
  switch (source) {
    case 'operator':
      return 'set by QA';
    case 'device':
      return 'set by the device (setChannel)';
    default:
      return `set by ${source}`;
  }
}

function allowsPlatform(channel: Channel, platform: string): boolean {
  switch (platform.toLowerCase()) {
    case 'ios':
      return channel.ios;
    case 'android':
      return channel.android;
    case 'electron':
      return channel.electron;
    default:
      return true;
  }
}

/**
 * The channel a device gets without an override, as far as the console can tell: the
 * `defaultChannel` its app build asks for, else the app's default public channel for its
 * platform. Used inside parentheses in the clear-override confirmation.
 */
export function fallbackChannel(channels: Channel[] | null, platform: string | null): string {
  const own = 'the defaultChannel its app build asks for, if any';
  if (!channels) return `${own}, otherwise the app's default channel`;
  const where = platform ? `${platform} devices` : 'its platform';
  const usable = channels.filter((c) => c.public && (!platform || allowsPlatform(c, platform)));
  if (usable.length === 0) return `${own}; no public channel serves ${where}, so otherwise it gets no live updates`;
  if (usable.length === 1) return `${own}, otherwise the default channel for ${where}: ${usable[0].name}`;
  return `${own}, otherwise the app's default channel for ${where}: one of ${usable.map((c) => c.name).join(', ')}`;
}

/** What a channel serves, for the channel picker (each native line's bundle). */
export function servesWords(channel: Channel): string {
  const targets = channel.lanes.map((l) => l.target).filter((t): t is string => t !== null);
  if (targets.length === 0) return 'serves nothing yet';
  return `serves ${targets.map((t) => (t === 'builtin' ? 'the store build' : t)).join(' / ')}`;
}
