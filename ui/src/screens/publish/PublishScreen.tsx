import { useEffect, useReducer, useRef, useState, type FormEvent } from 'react';
import { ErrorBanner } from '../../components/ErrorBanner';
import { ProgressBar } from '../../components/ProgressBar';
import { toUiError } from '../../lib/backend/backend';
import { useBackend } from '../../lib/backend/context';
import { BundlePreviewCard } from './BundlePreviewCard';
import { initialPreviewState, previewReducer } from './previewState';
import { ReleaseForm } from './ReleaseForm';

/** Publish: choose a build folder and see exactly what would ship before anything is sent. */
export function PublishScreen() {
  const backend = useBackend();
  const [folder, setFolder] = useState('');
  const [state, dispatch] = useReducer(previewReducer, initialPreviewState);
  const [dragging, setDragging] = useState(false);

  useEffect(() => {
    let unsubscribe: (() => void) | undefined;
    let disposed = false;
    backend.onProgress((event) => dispatch({ type: 'progress', event })).then((stop) => {
      if (disposed) stop();
      else unsubscribe = stop;
    });
    return () => {
      disposed = true;
      unsubscribe?.();
    };
  }, [backend]);

  // A build folder dropped anywhere on the window is checked like a picked one.
  const checkRef = useRef<(path: string) => Promise<void>>(async () => {});
  useEffect(() => {
    let unsubscribe: (() => void) | undefined;
    let disposed = false;
    backend
      .onFileDrag((drag) => {
        setDragging(drag.kind === 'hover');
        if (drag.kind === 'drop') {
          setFolder(drag.path);
          void checkRef.current(drag.path);
        }
      })
      .then((stop) => {
        if (disposed) stop();
        else unsubscribe = stop;
      });
    return () => {
      disposed = true;
      unsubscribe?.();
    };
  }, [backend]);

  async function check(path: string) {
    const trimmed = path.trim();
    if (!trimmed) return;
    const operationId = crypto.randomUUID();
    dispatch({ type: 'start', operationId, folder: trimmed });
    try {
      const preview = await backend.previewBundle(operationId, trimmed);
      dispatch({ type: 'succeeded', operationId, preview });
    } catch (error) {
      dispatch({ type: 'failed', operationId, error: toUiError(error) });
    }
  }

  checkRef.current = check;

  async function browse() {
    const picked = await backend.pickFolder();
    if (picked) {
      setFolder(picked);
      await check(picked);
    }
  }

  function submit(event: FormEvent) {
    event.preventDefault();
    void check(folder);
  }

  const packing = state.kind === 'packing' ? state : null;
  return (
    <div className="screen">
      <header className="screen-head">
        <h1>Publish a bundle</h1>
        <p className="muted">
          Pick, type or drop the web build folder (the one with index.html). Nothing is sent until you publish.
        </p>
      </header>

      <form className={dragging ? 'card row drop-target' : 'card row'} onSubmit={submit} data-testid="folder-form">
        <label className="field grow">
          <span>Build folder</span>
          <input
            name="folder"
            value={folder}
            onChange={(e) => setFolder(e.target.value)}
            placeholder="/path/to/app/dist"
            spellCheck={false}
            autoFocus
          />
        </label>
        <button type="button" className="button secondary" onClick={() => void browse()} disabled={!!packing}>
          Browse…
        </button>
        <button type="submit" className="button" disabled={!!packing || !folder.trim()}>
          Check bundle
        </button>
      </form>

      {packing && (
        <ProgressBar
          label={`Packing ${packing.folder}`}
          done={packing.done}
          total={packing.total}
          onCancel={() => void backend.cancelOperation(packing.operationId)}
        />
      )}
      {state.kind === 'cancelled' && <p className="notice">Packing cancelled. Nothing was written.</p>}
      {state.kind === 'failed' && <ErrorBanner error={state.error} />}
      {state.kind === 'ready' && <BundlePreviewCard preview={state.preview} />}
      {state.kind === 'ready' && <ReleaseForm key={state.preview.sha256} preview={state.preview} />}
    </div>
  );
}
