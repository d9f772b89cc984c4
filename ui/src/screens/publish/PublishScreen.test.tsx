// The publish screen against a scripted Backend: the Rust side is exercised for real by the
// WebDriver suite; here we check what the screen does with each answer.
import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { BundlePreview } from '../../bindings/BundlePreview';
import type { ProgressEvent } from '../../bindings/ProgressEvent';
import type { Backend, FileDrag } from '../../lib/backend/backend';
import { BackendProvider } from '../../lib/backend/context';
import { PublishScreen } from './PublishScreen';
import { unusedBackend } from '../../test/backends';

const preview: BundlePreview = {
  folder: '/app/dist',
  zip_path: '/cache/preview.zip',
  sha256: 'ab'.repeat(32),
  zip_size: 1_500_000,
  total_size: 4_000_000,
  file_count: 42,
  largest_files: [{ path: 'assets/vendor.js', size: 2_000_000, compressed_size: 600_000 }],
  excluded: ['.DS_Store'],
  warnings: [{ warning: { code: 'source_maps', count: 3 }, message: '3 source map(s) included' }],
};

/** A backend whose previewBundle waits until the test settles it. */
function scriptedBackend() {
  let listener: ((event: ProgressEvent) => void) | undefined;
  let settle: { resolve: (p: BundlePreview) => void; reject: (e: unknown) => void } | undefined;
  const calls: string[] = [];
  const backend: Backend = {
    ...unusedBackend,
    pickFolder: async () => '/picked/www',
    previewBundle: (operationId, folder) => {
      calls.push(`preview ${folder}`);
      return new Promise((resolve, reject) => {
        settle = { resolve, reject };
        listener?.({ operation_id: operationId, stage: 'packing', done: 1_000_000, total: 4_000_000 });
      });
    },
    cancelOperation: async (operationId) => {
      calls.push(`cancel ${operationId.length > 0}`);
      settle?.reject({ code: 'cancelled', message: 'cancelled' });
      return true;
    },
    onProgress: async (l) => {
      listener = l;
      return () => (listener = undefined);
    },
  };
  return { backend, calls, settle: () => settle! };
}

function renderScreen(backend: Backend) {
  render(
    <BackendProvider backend={backend}>
      <PublishScreen />
    </BackendProvider>,
  );
}

afterEach(cleanup);

describe('PublishScreen', () => {
  it('shows progress while packing, then what will ship', async () => {
    const { backend, settle } = scriptedBackend();
    renderScreen(backend);
    fireEvent.change(screen.getByPlaceholderText('/path/to/app/dist'), { target: { value: ' /app/dist ' } });
    await act(async () => fireEvent.click(screen.getByText('Check bundle')));
    expect(screen.getByTestId('progress').textContent).toContain('25%');
    await act(async () => settle().resolve(preview));
    expect(screen.getByTestId('file-count').textContent).toBe('42');
    expect(screen.getByTestId('sha256').textContent).toBe(preview.sha256);
    expect(screen.getByText('3 source map(s) included')).toBeTruthy();
    expect(screen.getByTestId('excluded').textContent).toContain('.DS_Store');
    expect(screen.queryByTestId('progress')).toBeNull();
  });

  it('cancels quietly', async () => {
    const { backend, calls } = scriptedBackend();
    renderScreen(backend);
    fireEvent.change(screen.getByPlaceholderText('/path/to/app/dist'), { target: { value: '/app/dist' } });
    await act(async () => fireEvent.click(screen.getByText('Check bundle')));
    await act(async () => fireEvent.click(screen.getByText('Cancel')));
    expect(calls).toEqual(['preview /app/dist', 'cancel true']);
    expect(screen.getByText(/Packing cancelled/)).toBeTruthy();
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('shows a failure in words and lets the user try again', async () => {
    const { backend, settle } = scriptedBackend();
    renderScreen(backend);
    fireEvent.change(screen.getByPlaceholderText('/path/to/app/dist'), { target: { value: '/app/src' } });
    await act(async () => fireEvent.click(screen.getByText('Check bundle')));
    await act(async () => settle().reject({ code: 'invalid_input', message: 'no index.html in /app/src' }));
    expect(screen.getByRole('alert').textContent).toBe('no index.html in /app/src');
    expect((screen.getByText('Check bundle') as HTMLButtonElement).disabled).toBe(false);
  });

  it('packs the folder picked in the native dialog', async () => {
    const { backend, calls } = scriptedBackend();
    renderScreen(backend);
    await act(async () => fireEvent.click(screen.getByText('Browse…')));
    expect(calls).toEqual(['preview /picked/www']);
    expect((screen.getByPlaceholderText('/path/to/app/dist') as HTMLInputElement).value).toBe('/picked/www');
  });

  it('highlights a drag over the window and packs the dropped folder', async () => {
    const { backend, calls } = scriptedBackend();
    let drag: ((event: FileDrag) => void) | undefined;
    renderScreen({ ...backend, onFileDrag: async (l) => ((drag = l), () => (drag = undefined)) });
    await act(async () => {});
    act(() => drag!({ kind: 'hover' }));
    expect(screen.getByTestId('folder-form').className).toContain('drop-target');
    await act(async () => drag!({ kind: 'drop', path: '/dropped/dist' }));
    expect(screen.getByTestId('folder-form').className).not.toContain('drop-target');
    expect(calls).toEqual(['preview /dropped/dist']);
    expect((screen.getByPlaceholderText('/path/to/app/dist') as HTMLInputElement).value).toBe('/dropped/dist');
  });
});
