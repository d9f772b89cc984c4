// What a device's events mean, in words a support engineer can read to a customer. The
// actions are the ones @capgo/capacitor-updater sends to /stats (and a few the server records);
// anything not listed is shown exactly as the device sent it.
import type { DeviceEvent } from '../../bindings/DeviceEvent';

/** How an event is marked on the timeline. */
export type Tone = 'failure' | 'warning' | 'success' | 'info';

export interface DescribedEvent {
  /** The event in words. */
  words: string;
  tone: Tone;
  /** The bundle the event is about, without a file suffix. */
  version: string;
  /** A file named by the device (download_fail sends `version:path`). */
  file: string | null;
}

type Words = string | ((version: string) => string);

const WORDS: Record<string, Words> = {
  // Installing
  set: (v) => (v ? `Installed and switched to bundle ${v}` : 'Installed and switched bundle'),
  set_fail: (v) => (v ? `Switching to bundle ${v} failed` : 'Switching bundle failed'),
  update_fail: 'Update failed — rolled back',
  reset: 'Reset to the store build',
  delete: (v) => (v ? `Deleted bundle ${v}` : 'Deleted a bundle'),
  // Downloading
  download_complete: 'Download complete',
  download_fail: 'Download failed',
  download_manifest_start: 'Started downloading the file manifest',
  download_manifest_complete: 'Downloaded the file manifest',
  download_zip_start: 'Started downloading the zip',
  download_zip_complete: 'Downloaded the zip',
  download_manifest_file_fail: 'A file from the manifest failed to download',
  download_manifest_checksum_fail: 'A file from the manifest failed its checksum',
  download_manifest_brotli_fail: 'A file from the manifest could not be decompressed',
  finish_download_fail: 'Finishing the download failed',
  low_mem_fail: 'Download failed — not enough memory',
  insufficient_disk_space: 'Not enough disk space for the bundle',
  // Checking what was downloaded
  decrypt_fail: 'Decryption failed — bundle rejected',
  checksum_fail: 'Checksum mismatch — bundle rejected',
  checksum_required: 'Bundle rejected — a checksum is required',
  unzip_fail: 'Unzipping failed',
  windows_path_fail: 'Bundle rejected — Windows-style file paths',
  canonical_path_fail: 'Bundle rejected — non-canonical file paths',
  directory_path_fail: 'Bundle rejected — invalid directory paths',
  manifest_path_fail: 'Bundle rejected — invalid path in the manifest',
  keyMismatch: 'Encryption key mismatch',
  // Update checks and channels
  get: 'Checked for an update',
  noNew: 'Checked for an update — already up to date',
  ping: 'Pinged the server',
  get_channel: 'Asked which channel it is on',
  getChannel: 'Asked which channel it is on',
  set_channel: 'Chose its channel itself (setChannel)',
  setChannel: 'Chose its channel itself (setChannel)',
  NoChannelOrOverride: 'No channel found for this device',
  cannotUpdateViaPrivateChannel: 'Update refused — the channel it asked for is private',
  channelMisconfigured: 'Update refused — channel misconfigured',
  missingBundle: 'Update refused — the bundle is missing on the server',
  cannotGetBundle: 'Update refused — the bundle could not be fetched',
  disablePlatformIos: 'Update blocked — the channel does not allow iOS',
  disablePlatformAndroid: 'Update blocked — the channel does not allow Android',
  disableAutoUpdateToMajor: 'Update blocked — major upgrades are disabled',
  disableAutoUpdateToMinor: 'Update blocked — minor upgrades are disabled',
  disableAutoUpdateToPatch: 'Update blocked — patch upgrades are disabled',
  disableAutoUpdateMetadata: 'Update blocked — by MIN_NATIVE_VERSION metadata',
  disableAutoUpdateUnderNative: 'Update blocked — bundle older than the native build',
  disableAutoUpdate: 'Update blocked — automatic updates are disabled',
  disableDevBuild: 'Update blocked — the channel does not allow development builds',
  disableProdBuild: 'Update blocked — the channel does not allow production builds',
  disableEmulator: 'Update blocked — the channel does not allow emulators',
  disableDevice: 'Update blocked — the channel does not allow physical devices',
  rateLimited: 'Rate limited by the server',
  // App lifecycle
  app_moved_to_foreground: 'App opened (moved to the foreground)',
  app_moved_to_background: 'App moved to the background',
  app_launch_start: 'App launch started',
  app_launch_ready: 'App launched and ready (notifyAppReady)',
  app_launch_timeout: 'App launch timed out — notifyAppReady was not called',
  app_crash: 'App crashed',
  app_crash_native: 'App crashed (native code)',
  app_anr: 'App stopped responding (ANR)',
  app_killed_low_memory: 'App killed by the OS — low memory',
  app_killed_excessive_resource_usage: 'App killed by the OS — excessive resource use',
  app_initialization_failure: 'App failed to initialise',
  uninstall: 'App uninstalled or its update data cleared',
};

const FAILURES = new Set([
  'set_fail',
  'update_fail',
  'download_fail',
  'checksum_fail',
  'unzip_fail',
  'decrypt_fail',
  'low_mem_fail',
  'insufficient_disk_space',
  'checksum_required',
  'keyMismatch',
  'app_launch_timeout',
  'app_crash',
  'app_crash_native',
  'app_anr',
  'app_initialization_failure',
]);

const SUCCESSES = new Set(['set', 'download_complete', 'app_launch_ready']);

/** Failures as the server counts them (`*_fail`, `*_path_fail`) plus crashes and rejections. */
export function isFailure(action: string): boolean {
  return FAILURES.has(action) || action.endsWith('_fail');
}

function toneOf(action: string): Tone {
  if (isFailure(action)) return 'failure';
  if (SUCCESSES.has(action)) return 'success';
  if (
    action === 'reset' ||
    action === 'rateLimited' ||
    action === 'NoChannelOrOverride' ||
    action.startsWith('disable') ||
    action.startsWith('cannot') ||
    action.startsWith('app_killed') ||
    action === 'channelMisconfigured' ||
    action === 'missingBundle'
  ) {
    return 'warning';
  }
  return 'info';
}

/** Splits `1.2.3:assets/app.js` (what download_fail sends) into the version and the file. */
export function splitVersionName(versionName: string): { version: string; file: string | null } {
  const at = versionName.indexOf(':');
  if (at < 0) return { version: versionName, file: null };
  const file = versionName.slice(at + 1);
  return { version: versionName.slice(0, at), file: file || null };
}

/** The words for an action; unknown actions verbatim. */
export function actionWords(action: string, version = ''): string {
  const progress = /^download_(\d{1,3})$/.exec(action);
  if (progress) return `Downloading — ${Number(progress[1])} %`;
  // Own keys only: an action named `toString` is an unknown action, not Object's method.
  if (!Object.hasOwn(WORDS, action)) return action;
  const words = WORDS[action];
  return typeof words === 'function' ? words(version) : words;
}

/** An event in words, with its tone and the bundle and file it is about. */
export function describeEvent(event: Pick<DeviceEvent, 'action' | 'version_name'>): DescribedEvent {
  const { version, file } = splitVersionName(event.version_name ?? '');
  return { words: actionWords(event.action, version), tone: toneOf(event.action), version, file };
}

/** Newest first by server receipt (ties keep the server's order). */
export function newestFirst(events: DeviceEvent[]): DeviceEvent[] {
  return events
    .map((event, index) => ({ event, index }))
    .sort((a, b) => b.event.received_ms - a.event.received_ms || a.index - b.index)
    .map((x) => x.event);
}

/** The metadata JSON text pretty-printed, or as sent when it is not JSON; null when empty. */
export function prettyMetadata(metadata: string | null): string | null {
  if (!metadata || !metadata.trim()) return null;
  try {
    const value: unknown = JSON.parse(metadata);
    if (value === null || (typeof value === 'object' && Object.keys(value as object).length === 0)) return null;
    return JSON.stringify(value, null, 2);
  } catch {
    return metadata;
  }
}
