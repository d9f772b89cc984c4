import { useState, type FormEvent } from 'react';
import type { App } from '../../bindings/App';
import type { UiError } from '../../bindings/UiError';
import { ErrorBanner } from '../../components/ErrorBanner';
import { toUiError } from '../../lib/backend/backend';
import { useBackend } from '../../lib/backend/context';
import { deniedReason } from '../../lib/roles';

/** Registers an app on the connected server, so a first-time admin never needs a terminal. */
export function CreateAppCard({ role, onCreated }: { role: string; onCreated: (app: App) => void }) {
  const backend = useBackend();
  const [form, setForm] = useState({ id: '', name: '' });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<UiError | null>(null);
  const [created, setCreated] = useState<App | null>(null);
  const denied = deniedReason(role, 'manage_apps');

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setCreated(null);
    try {
      const app = await backend.createApp(form.id.trim(), form.name.trim() || null);
      setCreated(app);
      setForm({ id: '', name: '' });
      onCreated(app);
    } catch (e) {
      setError(toUiError(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="card form-grid" onSubmit={submit} aria-label="Register an app">
      <h2>Register an app</h2>
      <p className="muted full">
        The id is the app's bundle id as devices send it (e.g. com.example.shop). It gets a public channel named
        production.
      </p>
      <label className="field">
        <span>App id</span>
        <input
          name="new-app-id"
          value={form.id}
          onChange={(e) => setForm({ ...form, id: e.target.value })}
          placeholder="com.example.shop"
          spellCheck={false}
          required
          disabled={!!denied}
        />
      </label>
      <label className="field">
        <span>Display name (optional)</span>
        <input
          name="new-app-name"
          value={form.name}
          onChange={(e) => setForm({ ...form, name: e.target.value })}
          placeholder="Shop"
          disabled={!!denied}
        />
      </label>
      {error && (
        <div className="full">
          <ErrorBanner error={error} />
        </div>
      )}
      {created && (
        <p className="notice success full" role="status" data-testid="app-created">
          Registered {created.id} with its channel production.
        </p>
      )}
      <div className="actions full">
        {denied && <span className="denied">{denied}</span>}
        <button type="submit" className="button" disabled={!!denied || busy || !form.id.trim()}>
          Register app
        </button>
      </div>
    </form>
  );
}
