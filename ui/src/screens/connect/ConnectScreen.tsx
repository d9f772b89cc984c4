import { useEffect, useState, type FormEvent } from 'react';
import type { App } from '../../bindings/App';
import type { ProfileSummary } from '../../bindings/ProfileSummary';
import type { Session } from '../../bindings/Session';
import type { UiError } from '../../bindings/UiError';
import { ErrorBanner } from '../../components/ErrorBanner';
import { toUiError } from '../../lib/backend/backend';
import { useCurrentApp } from '../../lib/app';
import { useBackend } from '../../lib/backend/context';
import { CreateAppCard } from './CreateAppCard';
import { TeamTokens } from './TeamTokens';
import { WebhooksCard } from '../webhooks/WebhooksCard';

interface Props {
  session: Session | null;
  onConnected: (session: Session) => void;
  /** An app was registered on the connected server. */
  onAppCreated?: (app: App) => void;
}

/** Connect: add a server profile (URL + token), test it, keep the token in the OS keychain. */
export function ConnectScreen({ session, onConnected, onAppCreated }: Props) {
  const backend = useBackend();
  const currentApp = useCurrentApp();
  const [profiles, setProfiles] = useState<ProfileSummary[]>([]);
  const [form, setForm] = useState({ profile: '', url: '', token: '', app: '' });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<UiError | null>(null);

  useEffect(() => {
    backend.listProfiles().then(setProfiles, (e) => setError(toUiError(e)));
  }, [backend, session]);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const connected = await backend.connectServer(form.profile, form.url, form.token, form.app || null);
      setForm({ ...form, token: '' });
      onConnected(connected);
    } catch (e) {
      setError(toUiError(e));
    } finally {
      setBusy(false);
    }
  }

  async function use(name: string) {
    setError(null);
    try {
      await backend.switchProfile(name);
      onConnected(await backend.currentSession());
    } catch (e) {
      setError(toUiError(e));
    }
  }

  const field = (key: keyof typeof form) => ({
    value: form[key],
    onChange: (e: { target: { value: string } }) => setForm({ ...form, [key]: e.target.value }),
  });

  return (
    <div className="screen">
      <header className="screen-head">
        <h1>Connect to a Capstan server</h1>
        <p className="muted">The token is checked against the server, then kept in your OS keychain, never in a file.</p>
      </header>

      {session && (
        <p className="notice" data-testid="connected">
          Connected to <strong>{session.profile}</strong> ({session.url}) as {session.token_name}, role{' '}
          <strong>{session.role}</strong>.
        </p>
      )}

      <form className="card form-grid" onSubmit={submit} aria-label="Add a server">
        <label className="field">
          <span>Profile name</span>
          <input name="profile" {...field('profile')} placeholder="staging" required />
        </label>
        <label className="field">
          <span>Server URL</span>
          <input name="url" {...field('url')} placeholder="https://updates.example.com" required spellCheck={false} />
        </label>
        <label className="field">
          <span>API token</span>
          <input name="token" type="password" {...field('token')} required autoComplete="off" />
        </label>
        <label className="field">
          <span>Default app (optional)</span>
          <input name="app" {...field('app')} placeholder="com.example.app" spellCheck={false} />
        </label>
        <div className="actions full">
          <button type="submit" className="button" disabled={busy}>
            {busy ? 'Checking…' : 'Test and save'}
          </button>
        </div>
      </form>

      {error && <ErrorBanner error={error} />}

      {profiles.length > 0 && (
        <section className="card">
          <h2>Saved servers</h2>
          <table className="table">
            <thead>
              <tr>
                <th>Profile</th>
                <th>URL</th>
                <th>Default app</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {profiles.map((p) => (
                <tr key={p.name}>
                  <td>{p.name}</td>
                  <td className="mono">{p.url}</td>
                  <td>{p.app ?? '—'}</td>
                  <td className="num">
                    {p.active ? (
                      <span className="badge">active</span>
                    ) : (
                      <button className="button secondary" onClick={() => void use(p.name)}>
                        Use
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
      {session && <CreateAppCard role={session.role} onCreated={(app) => onAppCreated?.(app)} />}
      {session?.role === 'admin' && <TeamTokens currentTokenId={session.token_id} />}
      {session?.role === 'admin' && currentApp && <WebhooksCard key={currentApp} app={currentApp} />}
    </div>
  );
}
