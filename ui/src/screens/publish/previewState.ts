// What the publish screen knows about the bundle being previewed. A reducer, so the rules
// (stale operations are ignored, cancelling is not an error) are tested without a window.
import type { BundlePreview } from '../../bindings/BundlePreview';
import type { ProgressEvent } from '../../bindings/ProgressEvent';
import type { UiError } from '../../bindings/UiError';

export type PreviewState =
  | { kind: 'idle' }
  | { kind: 'packing'; operationId: string; folder: string; done: number; total: number }
  | { kind: 'ready'; preview: BundlePreview }
  | { kind: 'failed'; folder: string; error: UiError }
  | { kind: 'cancelled'; folder: string };

export type PreviewAction =
  | { type: 'start'; operationId: string; folder: string }
  | { type: 'progress'; event: ProgressEvent }
  | { type: 'succeeded'; operationId: string; preview: BundlePreview }
  | { type: 'failed'; operationId: string; error: UiError };

export const initialPreviewState: PreviewState = { kind: 'idle' };

export function previewReducer(state: PreviewState, action: PreviewAction): PreviewState {
  switch (action.type) {
    case 'start':
      return { kind: 'packing', operationId: action.operationId, folder: action.folder, done: 0, total: 0 };
    case 'progress':
      if (state.kind !== 'packing' || action.event.operation_id !== state.operationId) return state;
      return { ...state, done: action.event.done, total: action.event.total };
    case 'succeeded':
      if (state.kind !== 'packing' || action.operationId !== state.operationId) return state;
      return { kind: 'ready', preview: action.preview };
    case 'failed':
      if (state.kind !== 'packing' || action.operationId !== state.operationId) return state;
      return action.error.code === 'cancelled'
        ? { kind: 'cancelled', folder: state.folder }
        : { kind: 'failed', folder: state.folder, error: action.error };
  }
}
