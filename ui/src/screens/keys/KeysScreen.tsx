import type { AppKeyStatus } from '../../bindings/AppKeyStatus';
import { ErrorBanner } from '../../components/ErrorBanner';
import { ScreenHead } from '../../components/ScreenHead';
import { useCurrentApp } from '../../lib/app';
import { useBackend } from '../../lib/backend/context';
import { useSession } from '../../lib/session';
import { useLoad } from '../../lib/useLoad';
import { AppKeyCard } from './AppKeyCard';
import { KeyCoverageCard } from './KeyCoverageCard';
import { RequireSignedCard } from './RequireSignedCard';
import './keys.css';

const TITLE = 'Keys';
const PURPOSE =
  'The key that signs each app’s bundles: its private half stays in this machine’s OS keychain, the server and the app hold the public half.';

/** Keys: create, back up and register the app's signing key, require signed bundles, and see which keys devices trust. */
export function KeysScreen() {
  const app = useCurrentApp();
  return (
    <div className="screen keys-screen">
      {app ? (
        <KeysOfApp app={app} />
      ) : (
        <>
          <ScreenHead title={TITLE} purpose={PURPOSE} />
          <p className="notice">Connect to a server and pick an app.</p>
        </>
      )}
    </div>
  );
}

function KeysOfApp({ app }: { app: string }) {
  const backend = useBackend();
  const role = useSession()?.role ?? 'viewer';
  const overview = useLoad(() => backend.keysOverview(), app);
  const status = overview.data?.find((a) => a.app === app) ?? null;
  return (
    <>
      <ScreenHead title={TITLE} purpose={PURPOSE} onRefresh={overview.reload} busy={overview.loading} />
      {overview.error && <ErrorBanner error={overview.error} onRetry={overview.reload} />}
      {overview.loading && !overview.data && !overview.error && <p className="muted">Loading…</p>}
      {status && (
        <>
          <AppKeyCard key={app} status={status} role={role} onChanged={overview.reload} />
          <RequireSignedCard status={status} role={role} onChanged={overview.reload} />
        </>
      )}
      {overview.data && <KeysTable apps={overview.data} />}
      <KeyCoverageCard key={`coverage-${app}`} app={app} />
    </>
  );
}

/** Which key signs which app. */
function KeysTable({ apps }: { apps: AppKeyStatus[] }) {
  return (
    <section className="card" aria-label="Which key signs which app">
      <h2>Which key signs which app</h2>
      <table className="table" data-testid="keys-table">
        <thead>
          <tr>
            <th>App</th>
            <th>Signed bundles only</th>
            <th>Registered keys</th>
            <th>This machine</th>
          </tr>
        </thead>
        <tbody>
          {apps.map((a) => (
            <tr key={a.app} data-app={a.app}>
              <td>{a.app}</td>
              <td>{a.require_signed ? 'yes' : 'no'}</td>
              <td className="mono">{a.registered.map((k) => k.key_id).join(', ') || '—'}</td>
              <td>
                {a.local_key_id ? (
                  <>
                    <span className="mono">{a.local_key_id}</span>{' '}
                    <span className="hint">
                      {a.signs ? `signs (from ${a.local_source})` : `not registered (from ${a.local_source})`}
                    </span>
                  </>
                ) : (
                  '—'
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
