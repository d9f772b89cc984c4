import { useState, type FormEvent } from 'react';
import type { AppKeyStatus } from '../../bindings/AppKeyStatus';
import type { KeyDetails } from '../../bindings/KeyDetails';
import type { UiError } from '../../bindings/UiError';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { ErrorBanner } from '../../components/ErrorBanner';
import { toUiError } from '../../lib/backend/backend';
import { useBackend } from '../../lib/backend/context';
import { deniedReason } from '../../lib/roles';
import { PublicKeyPanel } from './PublicKeyPanel';

/** This machine's signing key for the app: create, show, back up, import, register. */
export function AppKeyCard({ status, role, onChanged }: { status: AppKeyStatus; role: string; onChanged: () => void }) {
  const backend = useBackend();
  const app = status.app;
  const cannotRegister = deniedReason(role, 'manage_keys');
  const [register, setRegister] = useState(cannotRegister === null);
  const [details, setDetails] = useState<KeyDetails | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [exportPath, setExportPath] = useState('');
  const [importPath, setImportPath] = useState('');
  const [replacing, setReplacing] = useState(false);

  async function run(action: () => Promise<string | null>) {
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      setNotice(await action());
      onChanged();
    } catch (e) {
      setError(toUiError(e));
    } finally {
      setBusy(false);
    }
  }

  const saved = (made: KeyDetails, verb: string) => {
    setDetails(made);
    return `${verb} key ${made.key_id} for ${app}: its private half is in this machine’s OS keychain${
      made.registered ? ', its public half is registered on the server' : '; an admin still has to register it'
    }. Back it up with Export.`;
  };
  const create = (replace: boolean) =>
    run(async () => saved(await backend.createSigningKey(app, register, replace), replace ? 'Replaced the' : 'Made'));
  const show = () =>
    run(async () => {
      setDetails(await backend.showSigningKey(app));
      return null;
    });
  const exportKey = (event: FormEvent) => {
    event.preventDefault();
    void run(async () => {
      const keyId = await backend.exportSigningKey(app, exportPath.trim());
      return `Wrote the private key ${keyId} to ${exportPath.trim()}. Whoever reads that file can publish bundles every installed copy of ${app} accepts: keep it offline (a password manager, a safe), never in a repository.`;
    });
  };
  const importKey = (event: FormEvent) => {
    event.preventDefault();
    void run(async () => saved(await backend.importSigningKey(app, importPath.trim(), register, false), 'Imported'));
  };

  return (
    <section className="card app-key" aria-label="Signing key" data-testid="app-key">
      <h2>Signing key for {app}</h2>
      {status.local_key_id ? (
        <p data-testid="local-key">
          This machine signs {app}’s bundles with key <span className="mono">{status.local_key_id}</span> (from{' '}
          {status.local_source}){' '}
          {status.signs ? (
            <span className="badge">registered</span>
          ) : (
            <span className="badge warn">not registered: the server refuses what it signs</span>
          )}
        </p>
      ) : (
        <p data-testid="local-key">
          This machine holds no signing key for {app}.{' '}
          {status.registered.length > 0
            ? 'The server has registered keys: import the private key from a backup to publish from here.'
            : 'Without a key, its bundles are not signed.'}
        </p>
      )}
      <div className="row">
        {status.local_key_id ? (
          <>
            <button type="button" className="button secondary" onClick={() => void show()} disabled={busy}>
              Show public key
            </button>
            {!status.signs && (
              <button
                type="button"
                className="button"
                disabled={busy || cannotRegister !== null}
                title={cannotRegister ?? undefined}
                onClick={() =>
                  void run(async () => `Registered key ${(await backend.registerSigningKey(app)).key_id} on the server.`)
                }
              >
                Register on the server
              </button>
            )}
            <button type="button" className="button secondary" onClick={() => setReplacing(true)} disabled={busy}>
              Make a new key…
            </button>
          </>
        ) : (
          <button type="button" className="button" onClick={() => void create(false)} disabled={busy}>
            Create key
          </button>
        )}
        <label className="check">
          <input
            type="checkbox"
            name="register-key"
            checked={register}
            disabled={cannotRegister !== null}
            onChange={(e) => setRegister(e.target.checked)}
          />
          Register new keys on the server
        </label>
      </div>
      {cannotRegister && <p className="hint">{cannotRegister}</p>}
      {status.local_key_id && (
        <form className="row" onSubmit={exportKey}>
          <label className="field grow">
            <span>Back up: export the private key to a new file</span>
            <input
              name="export-path"
              value={exportPath}
              onChange={(e) => setExportPath(e.target.value)}
              placeholder="/media/backup/com.example.app.pem"
              required
            />
          </label>
          <button type="submit" className="button secondary" disabled={busy || !exportPath.trim()}>
            Export key
          </button>
        </form>
      )}
      <form className="row" onSubmit={importKey}>
        <label className="field grow">
          <span>Import a private key file (PEM, RSA-2048) into the keychain</span>
          <input
            name="import-path"
            value={importPath}
            onChange={(e) => setImportPath(e.target.value)}
            placeholder="/media/backup/com.example.app.pem"
            required
          />
        </label>
        <button type="submit" className="button secondary" disabled={busy || !importPath.trim()}>
          Import key
        </button>
      </form>
      {notice && (
        <p className="notice success" role="status" data-testid="key-notice">
          {notice}
        </p>
      )}
      {error && <ErrorBanner error={error} />}
      {details && <PublicKeyPanel details={details} />}
      {replacing && (
        <ConfirmDialog
          title={`Make a new signing key for ${app}?`}
          confirmLabel="Make a new key"
          danger
          busy={busy}
          onConfirm={() => {
            setReplacing(false);
            void create(true);
          }}
          onCancel={() => setReplacing(false)}
        >
          <p>
            The key {status.local_key_id} leaves this machine’s keychain: export it first if you have no backup.
            Installed apps keep trusting only the old key until a store build ships the new public key, so keep the old
            key registered until the coverage below shows no device needs it.
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}
