import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChannelAdoption } from '../../bindings/ChannelAdoption';
import type { Timeline } from '../../bindings/Timeline';
import { CurrentAppProvider } from '../../lib/app';
import type { Backend } from '../../lib/backend/backend';
import { BackendProvider } from '../../lib/backend/context';
import { unusedBackend } from '../../test/backends';
import { HOUR_MS } from './chartData';
import { StatsScreen } from './StatsScreen';
import { makeChannel } from '../../test/fixtures';

// jsdom has no layout and no ResizeObserver: the charts draw at ResponsiveContainer's
// initialDimension, so their SVG, bars and legends are really there to assert on.
const APP = 'com.example.shop';
const adoption: ChannelAdoption[] = [
  {
    channel: 'production',
    lanes: [{ min_native: null, target: '1.0.0', rollout: { version: '1.1.0', share_bp: 2500, started_at_ms: 0 } }],
    active_devices: 100,
    on_target: 87,
    adoption: 0.87,
    by_bundle: { '1.0.0': 87, '1.1.0': 13 },
    health: [],
  },
  { channel: 'beta', lanes: [{ min_native: null, target: '1.1.0', rollout: null }], active_devices: 5, on_target: 5, adoption: 1, by_bundle: { '1.1.0': 5 }, health: [] },
];

function timeline(): Timeline {
  const hour = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
  return {
    bucket_ms: HOUR_MS,
    buckets: [
      { start_ms: hour - 2 * HOUR_MS, action: 'set', count: 40 },
      { start_ms: hour - 2 * HOUR_MS, action: 'download_fail', count: 3 },
      { start_ms: hour, action: 'set', count: 2 },
      { start_ms: hour, action: 'update_fail', count: 4 },
      { start_ms: hour, action: 'reset', count: 1 },
    ],
  };
}

function renderScreen(backend: Backend, app: string | null = APP) {
  render(
    <BackendProvider backend={backend}>
      <CurrentAppProvider app={app}>
        <StatsScreen />
      </CurrentAppProvider>
    </BackendProvider>,
  );
}

/** production serving 1.0.0. */
const servedChannel = makeChannel({ name: 'production', target: '1.0.0' });

afterEach(cleanup);

describe('StatsScreen', () => {
  it('draws adoption per channel and events over time, with totals', async () => {
    const calls: string[] = [];
    renderScreen({
      ...unusedBackend,
      channelAdoption: async (app) => (calls.push(`adoption ${app}`), adoption),
      listChannels: async () => [servedChannel],
      statsTimeline: async (app, bucket, days, version) => (
        calls.push(`timeline ${app} ${bucket} ${days}${version ? ` ${version}` : ''}`), timeline()
      ),
    });
    await act(async () => {});
    expect(calls).toEqual([`adoption ${APP}`, `timeline ${APP} hour 7`, `timeline ${APP} hour 7 1.0.0`]);
    // Installs so far of the bundle production serves, one line per served bundle.
    expect(screen.getByTestId('adoption-trend').textContent).toContain('1.0.0 (production)');
    expect(screen.getByRole('heading', { name: 'Stats' })).toBeTruthy();

    // Adoption: numbers per channel and a stacked bar chart with one series per version.
    expect(screen.getByTestId('adoption-production').textContent).toBe('87 %');
    expect(screen.getByTestId('adoption-beta').textContent).toBe('100 %');
    expect(screen.getByText('rolling out 1.1.0 to 25 %')).toBeTruthy();
    const adoptionChart = screen.getByTestId('adoption-chart');
    expect(adoptionChart.querySelector('svg.recharts-surface')).toBeTruthy();
    expect(within(adoptionChart).getByText('1.0.0')).toBeTruthy();
    expect(within(adoptionChart).getByText('1.1.0')).toBeTruthy();
    expect(adoptionChart.querySelectorAll('.recharts-bar-rectangle').length).toBeGreaterThan(0);

    // Totals over the range: rollbacks are update_fail + reset.
    expect(screen.getByTestId('summary-installs').textContent).toBe('42');
    expect(screen.getByTestId('summary-failures').textContent).toBe('7');
    expect(screen.getByTestId('summary-rollbacks').textContent).toBe('5');

    const installs = screen.getByTestId('installs-chart');
    expect(installs.querySelector('.recharts-area')).toBeTruthy();
    expect(within(installs).getByText('Installs')).toBeTruthy();

    const failures = screen.getByTestId('failures-chart');
    expect(within(failures).getByText('Download failed')).toBeTruthy();
    expect(within(failures).getByText('↩ Update failed (rolled back)')).toBeTruthy();
    expect(within(failures).getByText('↩ Reset to store build')).toBeTruthy();
  });

  it('asks for day buckets over 30 days and hour buckets over 24 h', async () => {
    const calls: string[] = [];
    renderScreen({
      ...unusedBackend,
      channelAdoption: async () => adoption,
      statsTimeline: async (_app, bucket, days, version) => (version ? null : calls.push(`${bucket} ${days}`), timeline()),
      listChannels: async () => [],
    });
    await act(async () => {});
    const thirty = screen.getByRole('button', { name: '30 days' });
    await act(async () => fireEvent.click(thirty));
    expect(thirty.getAttribute('aria-pressed')).toBe('true');
    await act(async () => fireEvent.click(screen.getByRole('button', { name: '24 h' })));
    expect(calls).toEqual(['hour 7', 'day 30', 'hour 1']);
  });

  it('shows calm notices instead of empty charts', async () => {
    renderScreen({
      ...unusedBackend,
      channelAdoption: async () => [{ ...adoption[1], active_devices: 0, on_target: 0, adoption: 0, by_bundle: {} }],
      statsTimeline: async () => ({ bucket_ms: HOUR_MS, buckets: [] }),
      listChannels: async () => [],
    });
    await act(async () => {});
    expect(screen.getByText('No device has reported on any channel in the last 30 days.')).toBeTruthy();
    expect(screen.getByText('No device events in the last 7 days.')).toBeTruthy();
    expect(screen.queryByTestId('adoption-chart')).toBeNull();
    expect(screen.queryByTestId('installs-chart')).toBeNull();
    expect(screen.queryByTestId('failures-chart')).toBeNull();
  });

  it('draws installs alone when nothing failed', async () => {
    const hour = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
    renderScreen({
      ...unusedBackend,
      channelAdoption: async () => adoption,
      statsTimeline: async () => ({ bucket_ms: HOUR_MS, buckets: [{ start_ms: hour, action: 'set', count: 9 }] }),
      listChannels: async () => [],
    });
    await act(async () => {});
    expect(screen.getByTestId('installs-chart')).toBeTruthy();
    expect(screen.queryByTestId('failures-chart')).toBeNull();
    expect(screen.getByText('No failures or rollbacks in the last 7 days.')).toBeTruthy();
  });

  it('shows each failure with Retry, and Refresh reloads everything', async () => {
    let adoptionCalls = 0;
    let timelineCalls = 0;
    renderScreen({
      ...unusedBackend,
      channelAdoption: async () => {
        adoptionCalls += 1;
        if (adoptionCalls === 1) throw { code: 'network', message: 'server unreachable' };
        return adoption;
      },
      statsTimeline: async (_app, _bucket, _days, version) => {
        if (!version) timelineCalls += 1;
        return timeline();
      },
      listChannels: async () => [],
    });
    await act(async () => {});
    expect(screen.getByRole('alert').textContent).toContain('server unreachable');
    expect(screen.queryByText('Loading…')).toBeNull();
    expect(screen.getByTestId('installs-chart')).toBeTruthy();
    await act(async () => fireEvent.click(screen.getByText('Retry')));
    expect(screen.queryByRole('alert')).toBeNull();
    expect(screen.getByTestId('adoption-chart')).toBeTruthy();
    expect([adoptionCalls, timelineCalls]).toEqual([2, 1]);
    await act(async () => fireEvent.click(screen.getByText('Refresh')));
    expect([adoptionCalls, timelineCalls]).toEqual([3, 2]);
  });

  it('asks for an app when none is selected', () => {
    renderScreen(unusedBackend, null);
    expect(screen.getByText('Connect to a server and pick an app.')).toBeTruthy();
  });
});
