// The native check on the Publish screen: did the Capacitor project change natively (a plugin,
// a bumped @capacitor package, capacitor.config, android/ or ios/) since the bundle the
// channel's shells run? If so, MIN_NATIVE_VERSION must rise, and one click takes the version
// the project declares. Computed by the same rule the server enforces, before any upload.
import type { NativeView } from '../../bindings/NativeView';
import type { UiError } from '../../bindings/UiError';

export type NativeState = { kind: 'checking' } | { kind: 'done'; view: NativeView } | { kind: 'failed'; error: UiError };

export function NativeCheck({ state, onRaise }: { state: NativeState; onRaise: (version: string) => void }) {
  if (state.kind === 'checking') {
    return (
      <p className="muted full" data-testid="native-check">
        Checking the native side of the project…
      </p>
    );
  }
  if (state.kind === 'failed') {
    return (
      <p className="warning full" data-testid="native-check">
        The native check failed: {state.error.message}
      </p>
    );
  }
  const view = state.view;
  if (view.project === null) {
    return (
      <p className="muted full" data-testid="native-check">
        No Capacitor project found above the build folder: native changes are not checked.
      </p>
    );
  }
  if (!view.stops) {
    return (
      <div className="full" data-testid="native-check">
        <p className="hint">Native surface: {view.sentence}.</p>
        {view.changes.length > 0 && <ChangeList changes={view.changes} />}
      </div>
    );
  }
  return (
    <div className="warning full" data-testid="native-check" role="alert">
      <p>
        <strong>Native surface changed.</strong> {view.sentence}.
      </p>
      <ChangeList changes={view.changes} />
      {view.suggested_min_native && (
        <button type="button" className="button" onClick={() => onRaise(view.suggested_min_native!)}>
          Raise MIN_NATIVE_VERSION to {view.suggested_min_native}
        </button>
      )}
      {view.suggested_source && <small className="hint"> (from {view.suggested_source})</small>}
    </div>
  );
}

function ChangeList({ changes }: { changes: string[] }) {
  return (
    <ul className="native-changes" aria-label="Native changes">
      {changes.map((change) => (
        <li key={change}>{change}</li>
      ))}
    </ul>
  );
}
