import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../bindings/AuditEntry';
import { CurrentAppProvider } from '../../lib/app';
import type { Backend } from '../../lib/backend/backend';
import { BackendProvider } from '../../lib/backend/context';
import { unusedBackend } from '../../test/backends';
import { AuditScreen } from './AuditScreen';

const APP = 'com.example.shop';

function entry(id: number, extra: Partial<AuditEntry> = {}): AuditEntry {
  return {
    id,
    actor: 'alice',
    app_id: APP,
    action: 'channel.publish',
    subject: 'production',
    before: { target: '1.0.0', revision: 1 },
    after: { target: '1.1.0', revision: 2 },
    at_ms: Date.UTC(2026, 10, 23, 14, 5) - id * 60_000,
    ...extra,
  };
}

const entries: AuditEntry[] = [
  entry(3),
  entry(2, { actor: 'bob', action: 'channel.rollout_start', subject: 'beta', before: { rollout: null }, after: { rollout: { version: '1.2.0', share_bp: 500 } } }),
  entry(1, { actor: 'ci', action: 'bundle.upload', subject: '1.1.0', before: null, after: { version: '1.1.0', size: 2_000_000 } }),
];

/** Answers `count` generated entries for any limit, recording the calls. */
function pagedBackend(total: number, calls: string[]): Backend {
  const all = Array.from({ length: total }, (_, i) => entry(total - i, { subject: `channel-${total - i}` }));
  return {
    ...unusedBackend,
    auditLog: async (app, limit) => {
      calls.push(`${app ?? 'all'} ${limit}`);
      return all.slice(0, limit);
    },
  };
}

function renderScreen(backend: Backend, app: string | null = APP) {
  render(
    <BackendProvider backend={backend}>
      <CurrentAppProvider app={app}>
        <AuditScreen />
      </CurrentAppProvider>
    </BackendProvider>,
  );
}

function rows(): HTMLElement[] {
  return [...screen.getByTestId('audit-table').querySelectorAll<HTMLElement>('tbody tr[data-audit-id]')];
}

afterEach(cleanup);

describe('AuditScreen', () => {
  it('lists changes in words with a summary of what changed, expandable to JSON', async () => {
    const calls: string[] = [];
    renderScreen({ ...unusedBackend, auditLog: async (app, limit) => (calls.push(`${app} ${limit}`), entries) });
    await act(async () => {});
    expect(calls).toEqual([`${APP} 50`]);
    expect(screen.getByRole('heading', { name: 'Audit log' })).toBeTruthy();
    expect(rows()).toHaveLength(3);
    const [publish, rollout, upload] = rows().map((r) => within(r));
    expect(publish.getByText('Published')).toBeTruthy();
    expect(publish.getByText('target: 1.0.0 → 1.1.0')).toBeTruthy();
    expect(rollout.getByText('Started rollout')).toBeTruthy();
    expect(rollout.getByText('bob')).toBeTruthy();
    expect(rollout.getByText('rollout: none → 1.2.0 at 5 %')).toBeTruthy();
    expect(upload.getByText('Uploaded bundle')).toBeTruthy();
    expect(upload.getByText('new: version 1.1.0; size 2.0 MB')).toBeTruthy();

    const toggle = publish.getByRole('button', { name: /target: 1.0.0 → 1.1.0/ });
    expect(toggle.getAttribute('aria-expanded')).toBe('false');
    fireEvent.click(toggle);
    expect(toggle.getAttribute('aria-expanded')).toBe('true');
    expect(screen.getByTestId('audit-before').textContent).toBe('{\n  "target": "1.0.0",\n  "revision": 1\n}');
    expect(screen.getByTestId('audit-after').textContent).toContain('"target": "1.1.0"');
  });

  it('filters on actor, action and subject without asking the server again', async () => {
    const calls: string[] = [];
    renderScreen({ ...unusedBackend, auditLog: async (app, limit) => (calls.push(`${app} ${limit}`), entries) });
    await act(async () => {});
    const filter = screen.getByRole('searchbox', { name: 'Filter by actor, action or subject' });
    fireEvent.change(filter, { target: { value: 'bob' } });
    expect(rows().map((r) => r.dataset.action)).toEqual(['channel.rollout_start']);
    fireEvent.change(filter, { target: { value: 'uploaded' } });
    expect(rows().map((r) => r.dataset.action)).toEqual(['bundle.upload']);
    fireEvent.change(filter, { target: { value: 'production' } });
    expect(rows().map((r) => r.dataset.auditId)).toEqual(['3']);
    expect(screen.getByTestId('audit-count').textContent).toBe('1 of 3 shown');
    fireEvent.change(filter, { target: { value: 'nobody' } });
    expect(screen.queryByTestId('audit-table')).toBeNull();
    expect(screen.getByText('No change matches “nobody”.')).toBeTruthy();
    expect(calls).toHaveLength(1);
  });

  it('loads more by raising the limit, until fewer come back', async () => {
    const calls: string[] = [];
    renderScreen(pagedBackend(120, calls));
    await act(async () => {});
    expect(rows()).toHaveLength(50);
    await act(async () => fireEvent.click(screen.getByText('Load more')));
    expect(rows()).toHaveLength(100);
    await act(async () => fireEvent.click(screen.getByText('Load more')));
    expect(rows()).toHaveLength(120);
    expect(screen.queryByText('Load more')).toBeNull();
    expect(calls).toEqual([`${APP} 50`, `${APP} 100`, `${APP} 150`]);
  });

  it('switches between this app and all apps, starting over at 50', async () => {
    const calls: string[] = [];
    renderScreen(pagedBackend(60, calls));
    await act(async () => {});
    await act(async () => fireEvent.click(screen.getByText('Load more')));
    const all = screen.getByRole('button', { name: 'All apps' });
    await act(async () => fireEvent.click(all));
    expect(all.getAttribute('aria-pressed')).toBe('true');
    expect(screen.getByRole('columnheader', { name: 'App' })).toBeTruthy();
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'This app' })));
    expect(screen.queryByRole('columnheader', { name: 'App' })).toBeNull();
    expect(calls).toEqual([`${APP} 50`, `${APP} 100`, 'all 50', `${APP} 50`]);
  });

  it('shows a failure with Retry, which loads again; Refresh too', async () => {
    let attempts = 0;
    renderScreen({
      ...unusedBackend,
      auditLog: async () => {
        attempts += 1;
        if (attempts === 1) throw { code: 'unauthorized', message: 'token refused' };
        return entries;
      },
    });
    await act(async () => {});
    expect(screen.getByRole('alert').textContent).toContain('token refused');
    expect(screen.queryByText('Loading…')).toBeNull();
    await act(async () => fireEvent.click(screen.getByText('Retry')));
    expect(screen.queryByRole('alert')).toBeNull();
    expect(rows()).toHaveLength(3);
    await act(async () => fireEvent.click(screen.getByText('Refresh')));
    expect(attempts).toBe(3);
  });

  it('says so when nothing was recorded, and asks for an app when none is selected', async () => {
    renderScreen({ ...unusedBackend, auditLog: async () => [] });
    await act(async () => {});
    expect(screen.getByText(`No changes recorded for ${APP} yet.`)).toBeTruthy();
    cleanup();
    renderScreen(unusedBackend, null);
    expect(screen.getByText('Connect to a server and pick an app.')).toBeTruthy();
  });
});
