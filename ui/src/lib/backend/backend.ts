// The one door from the UI to Rust. Components receive a Backend through context and never
// call Tauri's `invoke` themselves, so UI logic runs in tests without a window.
import type { AppChannels } from '../../bindings/AppChannels';
import type { BundlePreview } from '../../bindings/BundlePreview';
import type { ProfileSummary } from '../../bindings/ProfileSummary';
import type { ProgressEvent } from '../../bindings/ProgressEvent';
import type { PublishDefaults } from '../../bindings/PublishDefaults';
import type { PublishForm } from '../../bindings/PublishForm';
import type { PublishResult } from '../../bindings/PublishResult';
import type { Session } from '../../bindings/Session';
import type { UiError } from '../../bindings/UiError';

export interface Backend {
  /** The active profile and who its token is; rejects with `not_connected` when there is none. */
  currentSession(): Promise<Session>;
  /** Checks a token, stores it in the OS keychain and activates the profile. */
  connectServer(profile: string, url: string, token: string, app: string | null): Promise<Session>;
  /** Saved profiles. */
  listProfiles(): Promise<ProfileSummary[]>;
  /** Makes a saved profile the active one. */
  switchProfile(name: string): Promise<void>;
  /** Opens the native folder dialog; null when the user closes it. */
  pickFolder(): Promise<string | null>;
  /** Packs a build folder and describes what would ship. Reports progress under `operationId`. */
  previewBundle(operationId: string, folder: string): Promise<BundlePreview>;
  /** Version and MIN_NATIVE_VERSION the build folder's project declares. */
  publishDefaults(folder: string): Promise<PublishDefaults>;
  /** Every app on the server with its channels. */
  listAppChannels(): Promise<AppChannels[]>;
  /** Packs, uploads, verifies and assigns. Reports progress under `operationId`. */
  publishBundle(operationId: string, form: PublishForm): Promise<PublishResult>;
  /** Asks a running operation to stop; false when it already finished. */
  cancelOperation(operationId: string): Promise<boolean>;
  /** Subscribes to progress of every operation; returns the unsubscribe function. */
  onProgress(listener: (event: ProgressEvent) => void): Promise<() => void>;
}

/** Turns anything a backend call rejected with into the `{ code, message }` shape. */
export function toUiError(error: unknown): UiError {
  if (typeof error === 'object' && error !== null && 'code' in error && 'message' in error) {
    return error as UiError;
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'internal', message };
}
