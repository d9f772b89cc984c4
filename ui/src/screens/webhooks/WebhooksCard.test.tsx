import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { Webhook } from '../../bindings/Webhook';
import type { WebhookDelivery } from '../../bindings/WebhookDelivery';
import type { Backend } from '../../lib/backend/backend';
import { BackendProvider } from '../../lib/backend/context';
import { unusedBackend } from '../../test/backends';
import { WebhooksCard } from './WebhooksCard';
import { describeEvent, lastAnswer } from './webhookText';

afterEach(cleanup);

const APP = 'com.example.app';

function delivery(id: number, webhookId: number, status: WebhookDelivery['status'], codes: number[]): WebhookDelivery {
  return {
    id,
    webhook_id: webhookId,
    url: 'https://hooks.example.com/a',
    event: {
      id: `evt_${id}`,
      kind: 'rollout.step',
      app_id: APP,
      channel: 'production',
      min_native: null,
      action: 'rollout_change',
      version: '1.2.0',
      previous: '1.1.0',
      percent: 10,
      reason: null,
      actor: 'ci',
      at_ms: 1,
    },
    status,
    next_attempt_at_ms: status === 'pending' ? 1_700_000_060_000 : null,
    created_at_ms: 1_700_000_000_000,
    finished_at_ms: null,
    attempts: codes.map((code, i) => ({
      attempt: i + 1,
      at_ms: 1_700_000_000_000 + i,
      status_code: code,
      error: code >= 300 ? `answered ${code} Internal Server Error` : null,
      duration_ms: 12,
    })),
  };
}

function scripted() {
  const calls: string[] = [];
  let hooks: Webhook[] = [
    { id: 1, app_id: APP, url: 'https://hooks.example.com/a', events: ['publish'], created_by: 'admin', created_at_ms: 1 },
  ];
  let log: WebhookDelivery[] = [delivery(7, 1, 'pending', [500, 500]), delivery(6, 1, 'delivered', [200])];
  const backend: Backend = {
    ...unusedBackend,
    listWebhooks: async (app) => {
      calls.push(`list ${app}`);
      return hooks;
    },
    webhookDeliveries: async (app, webhook, limit) => {
      calls.push(`log ${app} ${webhook} ${limit}`);
      return log;
    },
    createWebhook: async (app, url, events) => {
      calls.push(`create ${app} ${url} ${events === null ? 'all' : events.join(',')}`);
      const webhook: Webhook = { id: 2, app_id: app, url, events: events ?? [], created_by: 'admin', created_at_ms: 2 };
      hooks = [...hooks, webhook];
      return { webhook, secret: 'whsec_shown_once' };
    },
    removeWebhook: async (app, id) => {
      calls.push(`remove ${app} ${id}`);
      const removed = hooks.find((h) => h.id === id)!;
      hooks = hooks.filter((h) => h.id !== id);
      log = log.map((d) => (d.webhook_id === id && d.status === 'pending' ? { ...d, status: 'cancelled' } : d));
      return removed;
    },
  };
  return { backend, calls };
}

async function renderCard(backend: Backend) {
  render(
    <BackendProvider backend={backend}>
      <WebhooksCard app={APP} />
    </BackendProvider>,
  );
  await act(async () => {});
}

describe('WebhooksCard', () => {
  it('adds a webhook for the events ticked and shows its secret once', async () => {
    const { backend, calls } = scripted();
    await renderCard(backend);
    fireEvent.change(document.querySelector('[name=webhook-url]')!, { target: { value: ' https://hooks.example.com/b ' } });
    fireEvent.click(document.querySelector('[name="event-rollout.paused"]')!);
    fireEvent.click(document.querySelector('[name="event-guard"]')!);
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Add webhook' })));
    expect(calls).toContain(`create ${APP} https://hooks.example.com/b publish,rollout.step,rollback`);
    expect(screen.getByTestId('created-webhook-secret').textContent).toBe('whsec_shown_once');
    expect(screen.getByTestId('created-webhook').textContent).toContain('not shown again');
    expect(within(screen.getByTestId('webhook-table')).getByText('https://hooks.example.com/b')).toBeTruthy();
  });

  it('sends all events as null, so later kinds are included', async () => {
    const { backend, calls } = scripted();
    await renderCard(backend);
    fireEvent.change(document.querySelector('[name=webhook-url]')!, { target: { value: 'https://x.example/h' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Add webhook' })));
    expect(calls).toContain(`create ${APP} https://x.example/h all`);
  });

  it('shows the delivery log with attempts and the last answer', async () => {
    const { backend, calls } = scripted();
    await renderCard(backend);
    expect(calls).toContain(`log ${APP} null 50`);
    const rows = within(screen.getByTestId('delivery-log')).getAllByRole('row');
    expect(rows).toHaveLength(3);
    expect(rows[1].textContent).toContain('rollout.step 1.2.0 at 10 % on production');
    expect(rows[1].textContent).toContain('pending');
    expect(rows[1].textContent).toContain('answered 500 Internal Server Error');
    expect(rows[2].textContent).toContain('answered 200');
  });

  it('removes a webhook after a confirmation and shows its queued deliveries cancelled', async () => {
    const { backend, calls } = scripted();
    await renderCard(backend);
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Remove' })));
    expect(calls.filter((c) => c.startsWith('remove'))).toEqual([]);
    await act(async () => fireEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Remove' })));
    expect(calls).toContain(`remove ${APP} 1`);
    expect(screen.getByText('No webhook yet.')).toBeTruthy();
    expect(document.querySelector('[data-delivery-id="7"]')!.getAttribute('data-status')).toBe('cancelled');
  });

  it('describes deliveries in words', () => {
    const pending = delivery(1, 1, 'pending', []);
    expect(lastAnswer(pending)).toBe('not sent yet');
    expect(lastAnswer({ ...pending, status: 'cancelled' })).toBe('never sent');
    expect(describeEvent({ ...pending, event: { ...pending.event, kind: 'publish', percent: null } })).toBe(
      'publish 1.2.0 on production',
    );
  });
});
