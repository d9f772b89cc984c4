import { useState } from 'react';
import type { AppKeyStatus } from '../../bindings/AppKeyStatus';
import type { UiError } from '../../bindings/UiError';
import { ErrorBanner } from '../../components/ErrorBanner';
import { toUiError } from '../../lib/backend/backend';
import { useBackend } from '../../lib/backend/context';
import { deniedReason } from '../../lib/roles';

/** The server's "require signed bundles" switch, with why it matters (admin). */
export function RequireSignedCard({
  status,
  role,
  onChanged,
}: {
  status: AppKeyStatus;
  role: string;
  onChanged: () => void;
}) {
  const backend = useBackend();
  const denied = deniedReason(role, 'manage_keys');
  const [error, setError] = useState<UiError | null>(null);
  const [busy, setBusy] = useState(false);

  async function toggle(required: boolean) {
    setBusy(true);
    setError(null);
    try {
      await backend.setRequireSigned(status.app, required);
      onChanged();
    } catch (e) {
      setError(toUiError(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card" aria-label="Require signed bundles" data-testid="require-signed">
      <h2>Require signed bundles</h2>
      <label className="check">
        <input
          type="checkbox"
          name="require-signed"
          checked={status.require_signed}
          disabled={busy || denied !== null}
          onChange={(e) => void toggle(e.target.checked)}
        />
        The server refuses unsigned uploads of {status.app}, and no channel can serve an unsigned bundle
      </label>
      {denied && <p className="hint">{denied}</p>}
      <p className="hint">
        Android devices install an unsigned bundle even when the app has a publicKey (they check signatures only when a
        bundle comes with a session key): only the server can hold this line. Signing proves who published a bundle; it
        does not hide it, since anyone holding the app can decrypt its bundles.
      </p>
      {error && <ErrorBanner error={error} />}
    </section>
  );
}
