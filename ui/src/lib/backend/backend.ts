// The one door from the UI to Rust. Components receive a Backend through context and never
// call Tauri's `invoke` themselves, so UI logic runs in tests without a window.
import type { BundlePreview } from '../../bindings/BundlePreview';
import type { ProgressEvent } from '../../bindings/ProgressEvent';
import type { UiError } from '../../bindings/UiError';

export interface Backend {
  /** Opens the native folder dialog; null when the user closes it. */
  pickFolder(): Promise<string | null>;
  /** Packs a build folder and describes what would ship. Reports progress under `operationId`. */
  previewBundle(operationId: string, folder: string): Promise<BundlePreview>;
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
