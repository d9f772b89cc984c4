import { useEffect, useState } from 'react';
import type { Preview } from '../bindings/Preview';
import type { ProposedChange } from '../bindings/ProposedChange';
import type { UiError } from '../bindings/UiError';
import { toUiError } from '../lib/backend/backend';
import { useBackend } from '../lib/backend/context';
import { describeGroup, describePreview } from '../lib/preview';

/** Groups shown before "and N more groups". */
const SHOWN = 8;

/**
 * What the devices seen in the last 30 days would get if `change` were made, asked of the
 * server (which decides as `/updates` does); shown inside a confirmation dialog. A preview
 * that fails is said so, and does not stop the change.
 */
export function FleetPreview({ app, change }: { app: string; change: ProposedChange }) {
  const backend = useBackend();
  const [preview, setPreview] = useState<Preview | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const key = JSON.stringify(change);
  useEffect(() => {
    let live = true;
    setPreview(null);
    setError(null);
    backend.previewChange(app, JSON.parse(key) as ProposedChange, null).then(
      (answer) => live && setPreview(answer),
      (e) => live && setError(toUiError(e)),
    );
    return () => {
      live = false;
    };
  }, [backend, app, key]);

  return (
    <div className="fleet-preview" data-testid="fleet-preview" aria-live="polite">
      <h3>Devices after this change</h3>
      {!preview && !error && <p className="muted">Working out what each device would get…</p>}
      {error && <p className="muted">No fleet preview: {error.message}</p>}
      {preview && (
        <>
          <p>{describePreview(preview)}</p>
          <ul>
            {preview.groups.slice(0, SHOWN).map((group) => {
              const line = describeGroup(group);
              return <li key={line}>{line}</li>;
            })}
          </ul>
          {preview.groups.length > SHOWN && (
            <p className="muted">and {preview.groups.length - SHOWN} smaller groups (`capstan … --dry-run` lists all).</p>
          )}
        </>
      )}
    </div>
  );
}
