import { describe, expect, it } from 'vitest';
import type { BundlePreview } from '../../bindings/BundlePreview';
import { initialPreviewState, previewReducer, type PreviewState } from './previewState';

const preview: BundlePreview = {
  folder: '/build/dist',
  zip_path: '/cache/preview.zip',
  sha256: 'a'.repeat(64),
  zip_size: 10,
  total_size: 20,
  file_count: 2,
  largest_files: [],
  excluded: [],
  warnings: [],
};

function packing(id = 'op-1'): PreviewState {
  return previewReducer(initialPreviewState, { type: 'start', operationId: id, folder: '/build/dist' });
}

describe('previewReducer', () => {
  it('tracks progress of the running operation only', () => {
    let state = packing();
    state = previewReducer(state, { type: 'progress', event: { operation_id: 'op-1', stage: 'packing', done: 5, total: 20 } });
    expect(state).toMatchObject({ kind: 'packing', done: 5, total: 20 });
    const stale = previewReducer(state, { type: 'progress', event: { operation_id: 'op-0', stage: 'packing', done: 20, total: 20 } });
    expect(stale).toBe(state);
  });

  it('ignores the result of an operation that was replaced', () => {
    const state = packing('op-2');
    expect(previewReducer(state, { type: 'succeeded', operationId: 'op-1', preview })).toBe(state);
    expect(previewReducer(state, { type: 'succeeded', operationId: 'op-2', preview })).toEqual({ kind: 'ready', preview });
  });

  it('treats cancelling as a state, not an error', () => {
    const cancelled = previewReducer(packing(), { type: 'failed', operationId: 'op-1', error: { code: 'cancelled', message: 'cancelled' } });
    expect(cancelled).toEqual({ kind: 'cancelled', folder: '/build/dist' });
    const failed = previewReducer(packing(), {
      type: 'failed',
      operationId: 'op-1',
      error: { code: 'invalid_input', message: 'no index.html in /build/dist' },
    });
    expect(failed).toMatchObject({ kind: 'failed', error: { code: 'invalid_input' } });
  });
});
