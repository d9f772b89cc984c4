import { useState, type FormEvent } from 'react';
import type { CreatedWebhook } from '../../bindings/CreatedWebhook';
import type { UiError } from '../../bindings/UiError';
import type { Webhook } from '../../bindings/Webhook';
import type { WebhookDelivery } from '../../bindings/WebhookDelivery';
import type { WebhookEventKind } from '../../bindings/WebhookEventKind';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { ErrorBanner } from '../../components/ErrorBanner';
import { toUiError } from '../../lib/backend/backend';
import { useBackend } from '../../lib/backend/context';
import { formatTime } from '../../lib/format';
import { useLoad } from '../../lib/useLoad';
import { EVENT_KINDS, describeEvent, lastAnswer } from './webhookText';

/** Deliveries the log shows. */
const LOG_LIMIT = 50;

/** The app's webhooks (admin): register a URL (its signing secret shown once), remove one, read the delivery log. */
export function WebhooksCard({ app }: { app: string }) {
  const backend = useBackend();
  const hooks = useLoad<Webhook[]>(() => backend.listWebhooks(app), `webhooks-${app}`);
  const log = useLoad<WebhookDelivery[]>(() => backend.webhookDeliveries(app, null, LOG_LIMIT), `deliveries-${app}`);
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState<WebhookEventKind[]>(EVENT_KINDS.map((e) => e.kind));
  const [created, setCreated] = useState<CreatedWebhook | null>(null);
  const [removing, setRemoving] = useState<Webhook | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [busy, setBusy] = useState(false);

  function toggle(kind: WebhookEventKind) {
    setEvents(events.includes(kind) ? events.filter((k) => k !== kind) : [...events, kind]);
  }

  async function add(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const all = events.length === EVENT_KINDS.length;
      setCreated(await backend.createWebhook(app, url.trim(), all ? null : events));
      setUrl('');
      hooks.reload();
    } catch (e) {
      setError(toUiError(e));
    } finally {
      setBusy(false);
    }
  }

  async function remove() {
    if (!removing) return;
    setBusy(true);
    setError(null);
    try {
      await backend.removeWebhook(app, removing.id);
      if (created?.webhook.id === removing.id) setCreated(null);
      hooks.reload();
      log.reload();
    } catch (e) {
      setError(toUiError(e));
    } finally {
      setBusy(false);
      setRemoving(null);
    }
  }

  return (
    <section className="card" aria-label="Webhooks" data-testid="webhooks">
      <h2>Webhooks of {app}</h2>
      <p className="muted">
        Release events (publish, rollout steps and pauses, rollbacks, automatic guard actions) are POSTed as JSON to
        these URLs, signed with HMAC-SHA256 in the <code>Capstan-Signature</code> header, and retried with backoff
        until the receiver answers 2xx.
      </p>
      <form onSubmit={add}>
        <div className="row">
          <label className="field grow">
            <span>URL</span>
            <input
              name="webhook-url"
              value={url}
              onChange={(e) => setUrl(e.target.value)}
              placeholder="https://hooks.example.com/capstan"
              required
            />
          </label>
          <button type="submit" className="button" disabled={busy || !url.trim() || events.length === 0}>
            Add webhook
          </button>
        </div>
        <fieldset className="webhook-events">
          <legend>Events</legend>
          {EVENT_KINDS.map((e) => (
            <label key={e.kind} className="check">
              <input
                type="checkbox"
                name={`event-${e.kind}`}
                checked={events.includes(e.kind)}
                onChange={() => toggle(e.kind)}
              />
              <span>{e.label}</span>
            </label>
          ))}
        </fieldset>
      </form>
      {created && (
        <div className="notice success created-token" role="status" data-testid="created-webhook">
          <p>
            Webhook {created.webhook.id} sends to <strong>{created.webhook.url}</strong>. Copy its signing secret now
            and give it to the receiver: it is not shown again.
          </p>
          <code className="mono" data-testid="created-webhook-secret">
            {created.secret}
          </code>
        </div>
      )}
      {error && <ErrorBanner error={error} />}
      {hooks.error && <ErrorBanner error={hooks.error} onRetry={hooks.reload} />}
      {hooks.data && hooks.data.length === 0 && <p className="notice">No webhook yet.</p>}
      {hooks.data && hooks.data.length > 0 && (
        <table className="table" data-testid="webhook-table">
          <thead>
            <tr>
              <th>URL</th>
              <th>Events</th>
              <th>Added</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {hooks.data.map((h) => (
              <tr key={h.id} data-webhook-id={h.id}>
                <td className="mono">{h.url}</td>
                <td>{h.events.join(', ')}</td>
                <td>
                  {formatTime(h.created_at_ms)} by {h.created_by}
                </td>
                <td className="num">
                  <button className="button secondary" onClick={() => setRemoving(h)}>
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h3>
        Delivery log{' '}
        <button className="button secondary" onClick={log.reload} disabled={log.loading}>
          Refresh
        </button>
      </h3>
      {log.error && <ErrorBanner error={log.error} onRetry={log.reload} />}
      {log.data && log.data.length === 0 && <p className="notice">Nothing sent yet.</p>}
      {log.data && log.data.length > 0 && (
        <table className="table" data-testid="delivery-log">
          <thead>
            <tr>
              <th>Event</th>
              <th>URL</th>
              <th>Status</th>
              <th>Attempts</th>
              <th>Last answer</th>
              <th>Queued</th>
            </tr>
          </thead>
          <tbody>
            {log.data.map((d) => (
              <tr key={d.id} data-delivery-id={d.id} data-status={d.status}>
                <td>{describeEvent(d)}</td>
                <td className="mono">{d.url}</td>
                <td>
                  {d.status}
                  {d.status === 'pending' && d.next_attempt_at_ms !== null && (
                    <span className="muted"> (next try {formatTime(d.next_attempt_at_ms)})</span>
                  )}
                </td>
                <td className="num">{d.attempts.length}</td>
                <td>{lastAnswer(d)}</td>
                <td>{formatTime(d.created_at_ms)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {removing && (
        <ConfirmDialog
          title={`Remove the webhook to ${removing.url}?`}
          confirmLabel="Remove"
          danger
          busy={busy}
          onConfirm={() => void remove()}
          onCancel={() => setRemoving(null)}
        >
          <p>
            Nothing more is sent to it, and the events still waiting to go out to it are cancelled. Its past deliveries
            stay in the log.
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}
