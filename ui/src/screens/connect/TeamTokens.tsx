import { useState, type FormEvent } from 'react';
import type { CreatedToken } from '../../bindings/CreatedToken';
import type { Role } from '../../bindings/Role';
import type { TokenRecord } from '../../bindings/TokenRecord';
import type { UiError } from '../../bindings/UiError';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { ErrorBanner } from '../../components/ErrorBanner';
import { toUiError } from '../../lib/backend/backend';
import { useBackend } from '../../lib/backend/context';
import { formatTime } from '../../lib/format';
import { useLoad } from '../../lib/useLoad';

const ROLES: { value: Role; label: string }[] = [
  { value: 'viewer', label: 'viewer — reads everything (support)' },
  { value: 'qa', label: 'qa — also pins devices to channels' },
  { value: 'publisher', label: 'publisher — also publishes, rolls out, rolls back (release managers, CI)' },
  { value: 'admin', label: 'admin — also manages apps and tokens' },
];

/** The team's API tokens (admin): make one for a teammate or a CI job, revoke one that leaked. */
export function TeamTokens({ currentTokenId }: { currentTokenId: number }) {
  const backend = useBackend();
  const tokens = useLoad<TokenRecord[]>(() => backend.listTokens(), 'tokens');
  const [form, setForm] = useState<{ name: string; role: Role }>({ name: '', role: 'viewer' });
  const [created, setCreated] = useState<CreatedToken | null>(null);
  const [revoking, setRevoking] = useState<TokenRecord | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [busy, setBusy] = useState(false);

  async function create(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      setCreated(await backend.createToken({ name: form.name.trim(), role: form.role }));
      setForm({ name: '', role: form.role });
      tokens.reload();
    } catch (e) {
      setError(toUiError(e));
    } finally {
      setBusy(false);
    }
  }

  async function revoke() {
    if (!revoking) return;
    setBusy(true);
    setError(null);
    try {
      await backend.revokeToken(revoking.id);
      tokens.reload();
    } catch (e) {
      setError(toUiError(e));
    } finally {
      setBusy(false);
      setRevoking(null);
    }
  }

  return (
    <section className="card" aria-label="Team access" data-testid="team-tokens">
      <h2>Team access</h2>
      <form className="row" onSubmit={create}>
        <label className="field grow">
          <span>Who or what uses it</span>
          <input
            name="token-name"
            value={form.name}
            onChange={(e) => setForm({ ...form, name: e.target.value })}
            placeholder="support: Dana"
            required
          />
        </label>
        <label className="field">
          <span>Role</span>
          <select name="token-role" value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as Role })}>
            {ROLES.map((r) => (
              <option key={r.value} value={r.value}>
                {r.label}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" className="button" disabled={busy || !form.name.trim()}>
          Create token
        </button>
      </form>
      {created && (
        <div className="notice success created-token" role="status" data-testid="created-token">
          <p>
            Token for <strong>{created.record.name}</strong> ({created.record.role}). Copy it now and hand it over
            privately: it is not shown again, the server keeps only its hash.
          </p>
          <code className="mono" data-testid="created-token-secret">
            {created.token}
          </code>
        </div>
      )}
      {error && <ErrorBanner error={error} />}
      {tokens.error && <ErrorBanner error={tokens.error} onRetry={tokens.reload} />}
      {tokens.data && (
        <table className="table" data-testid="token-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Role</th>
              <th>Created</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {tokens.data.map((t) => (
              <tr key={t.id} data-token-id={t.id} className={t.revoked_at_ms ? 'muted' : undefined}>
                <td>{t.name}</td>
                <td>{t.role}</td>
                <td>{formatTime(t.created_at_ms)}</td>
                <td className="num">
                  {t.revoked_at_ms ? (
                    <span>revoked {formatTime(t.revoked_at_ms)}</span>
                  ) : t.id === currentTokenId ? (
                    <span className="badge" title="Revoking it would lock this console out">
                      this console
                    </span>
                  ) : (
                    <button className="button secondary" onClick={() => setRevoking(t)}>
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {revoking && (
        <ConfirmDialog
          title={`Revoke the token of ${revoking.name}?`}
          confirmLabel="Revoke"
          danger
          busy={busy}
          onConfirm={() => void revoke()}
          onCancel={() => setRevoking(null)}
        >
          <p>
            Every request with it is refused from now on: {revoking.name} ({revoking.role}) loses access, and a CI job
            using it stops publishing. This cannot be undone; make a new token if access is needed again.
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}
