import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { Bundle } from '../../bindings/Bundle';
import type { BundleHealth } from '../../bindings/BundleHealth';
import type { Channel } from '../../bindings/Channel';
import { CurrentAppProvider } from '../../lib/app';
import type { Backend } from '../../lib/backend/backend';
import { BackendProvider } from '../../lib/backend/context';
import { unusedBackend } from '../../test/backends';
import { BundlesScreen } from './BundlesScreen';
import type { Lane } from '../../bindings/Lane';
import { makeBundle, makeChannel } from '../../test/fixtures';

const APP = 'com.example.shop';

function bundle(version: string, extra: Partial<Bundle> = {}): Bundle {
  return makeBundle({
    app_id: APP,
    version,
    size: 1_500_000,
    file_count: 42,
    min_native_version: '3.0.0',
    created_by: 'alice',
    created_at_ms: Date.UTC(2026, 10, 23, 14, 5),
    ...extra,
  });
}

function channel(name: string, target: string | null, rollout: Lane['rollout'] = null): Channel {
  return makeChannel({ app_id: APP, name, target, rollout, strategy: 'major', block_under_native: false });
}

const bundles = [
  bundle('1.1.0', {
    notes: 'Faster checkout',
    warnings: [{ code: 'source_maps', count: 2 }],
    checksum: 'cd'.repeat(32),
    delta: { from_version: '1.0.0', download_bytes: 83_000 },
  }),
  bundle('1.0.0', { created_by: 'bob', min_native_version: null }),
];
const health: BundleHealth[] = [
  { version: '1.0.0', installs: 1000, failures: { download_fail: 3 }, failures_total: 3, rollbacks: 0, active_devices: 800, on_channels: [] },
  {
    version: '1.1.0',
    installs: 50,
    failures: { update_fail: 6, download_fail: 2 },
    failures_total: 8,
    rollbacks: 6,
    active_devices: 40,
    on_channels: [],
  },
];
const channels = [channel('production', '1.0.0', { version: '1.1.0', share_bp: 1000, started_at_ms: 0 }), channel('beta', '1.1.0')];

function renderScreen(backend: Backend, app: string | null = APP) {
  render(
    <BackendProvider backend={backend}>
      <CurrentAppProvider app={app}>
        <BundlesScreen />
      </CurrentAppProvider>
    </BackendProvider>,
  );
}

function row(version: string): HTMLElement {
  const found = screen.getByTestId('bundles-table').querySelector<HTMLElement>(`tr[data-version="${version}"]`);
  if (!found) throw new Error(`no row for ${version}`);
  return found;
}

afterEach(cleanup);

describe('BundlesScreen', () => {
  it('shows every bundle with size, checksum, channels and health', async () => {
    const calls: string[] = [];
    renderScreen({
      ...unusedBackend,
      listBundles: async (app) => (calls.push(`bundles ${app}`), bundles),
      bundleHealth: async (app) => (calls.push(`health ${app}`), health),
      listChannels: async (app) => (calls.push(`channels ${app}`), channels),
    });
    await act(async () => {});
    expect(calls.sort()).toEqual([`bundles ${APP}`, `channels ${APP}`, `health ${APP}`]);
    expect(screen.getByRole('heading', { name: 'Bundles' })).toBeTruthy();

    const stable = within(row('1.0.0'));
    expect(stable.getByText('1.5 MB')).toBeTruthy();
    expect(stable.getByText('bob')).toBeTruthy();
    expect(stable.getByTitle('production: serves everyone').textContent).toBe('production');
    expect(stable.getByText('1000')).toBeTruthy();
    expect(stable.getByText('800')).toBeTruthy();
    expect(stable.getByText('Healthy')).toBeTruthy();
    const hash = stable.getByText('abababababab…abab');
    expect(hash.getAttribute('title')).toBe('ab'.repeat(32));
    expect(hash.className).toContain('mono');

    const fresh = within(row('1.1.0'));
    expect(fresh.getByTestId('delta').textContent).toBe('83.0 kB instead of 1.5 MB from 1.0.0');
    expect(stable.queryByTestId('delta')).toBeNull();
    expect(fresh.getByTitle('production: rollout 10 %').textContent).toBe('production · 10 %');
    expect(fresh.getByTitle('beta: serves everyone').textContent).toBe('beta');
    expect(fresh.getByText('3.0.0')).toBeTruthy();
    expect(fresh.getByTestId('failures').textContent).toBe('8');
    expect(fresh.getByTestId('failures').getAttribute('title')).toBe('update_fail: 6\ndownload_fail: 2');
    expect(row('1.1.0').querySelector('[data-health="warn"]')?.textContent).toContain('High failure rate: 14 %');
    expect(row('1.1.0').querySelector('[data-health="warn"]')?.textContent).toContain('Rollbacks: 12 % of installs');
  });

  it('expands a row to its release notes, warnings and failures by action', async () => {
    renderScreen({
      ...unusedBackend,
      listBundles: async () => bundles,
      bundleHealth: async () => health,
      listChannels: async () => channels,
    });
    await act(async () => {});
    const toggle = within(row('1.1.0')).getByRole('button', { name: 'Show details of 1.1.0' });
    expect(toggle.getAttribute('aria-expanded')).toBe('false');
    expect(screen.queryByText('Faster checkout')).toBeNull();
    toggle.focus();
    fireEvent.click(toggle);
    expect(toggle.getAttribute('aria-expanded')).toBe('true');
    const details = screen.getByTestId('bundle-details-1.1.0');
    expect(within(details).getByText('Faster checkout')).toBeTruthy();
    expect(within(details).getByText(/2 source map\(s\) included/)).toBeTruthy();
    expect(within(details).getByText('update_fail')).toBeTruthy();
    expect(within(details).getByText('cd'.repeat(32))).toBeTruthy();
    fireEvent.click(toggle);
    expect(screen.queryByTestId('bundle-details-1.1.0')).toBeNull();
  });

  it('says how to get a first bundle when there is none', async () => {
    renderScreen({ ...unusedBackend, listBundles: async () => [], bundleHealth: async () => [], listChannels: async () => [] });
    await act(async () => {});
    expect(screen.getByText('No bundles yet — publish one from the Publish screen.')).toBeTruthy();
    expect(screen.queryByTestId('bundles-table')).toBeNull();
  });

  it('shows a failure with Retry, which loads again', async () => {
    let attempts = 0;
    renderScreen({
      ...unusedBackend,
      listBundles: async () => {
        attempts += 1;
        if (attempts === 1) throw { code: 'network', message: 'server unreachable' };
        return bundles;
      },
      bundleHealth: async () => health,
      listChannels: async () => channels,
    });
    await act(async () => {});
    expect(screen.getByRole('alert').textContent).toContain('server unreachable');
    expect(screen.queryByText('Loading…')).toBeNull();
    await act(async () => fireEvent.click(screen.getByText('Retry')));
    expect(attempts).toBe(2);
    expect(screen.queryByRole('alert')).toBeNull();
    expect(row('1.0.0')).toBeTruthy();
    await act(async () => fireEvent.click(screen.getByText('Refresh')));
    expect(attempts).toBe(3);
  });

  it('asks for an app when none is selected', () => {
    renderScreen(unusedBackend, null);
    expect(screen.getByText('Connect to a server and pick an app.')).toBeTruthy();
  });
});
