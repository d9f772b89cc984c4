// The devices screen against a scripted Backend: every call the screen makes is recorded, and
// any call a test did not script fails loudly (see unusedBackend).
import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { Channel } from '../../bindings/Channel';
import type { DeviceDetail } from '../../bindings/DeviceDetail';
import type { DeviceEvent } from '../../bindings/DeviceEvent';
import type { DeviceFilter } from '../../bindings/DeviceFilter';
import type { DeviceRecord } from '../../bindings/DeviceRecord';
import type { Backend } from '../../lib/backend/backend';
import { BackendProvider } from '../../lib/backend/context';
import { CurrentAppProvider } from '../../lib/app';
import { SessionProvider } from '../../lib/session';
import { unusedBackend } from '../../test/backends';
import { DevicesScreen } from './DevicesScreen';
import { makeChannel, makeDevice, makeEvent } from '../../test/fixtures';

const APP = 'com.example.app';
const ID = '6f1c2a9e-3b7d-4c1e-9a2f-0d5e8b7c4a11';
const OTHER = '6f1c2a9e-0000-4c1e-9a2f-0d5e8b7c4a22';
const HOUR = 3600_000;
const NOW = Date.now();

function device(device_id: string, patch: Partial<DeviceRecord> = {}): DeviceRecord {
  return makeDevice({
    app_id: APP,
    device_id,
    platform: 'ios',
    bundle_version: '1.4.1',
    plugin_version: '7.2.0',
    os_version: '18.1',
    first_seen_ms: NOW - 72 * HOUR,
    last_seen_ms: NOW - 2 * HOUR,
    ...patch,
  });
}

function channel(id: number, name: string, patch: Parameters<typeof makeChannel>[0] = {}): Channel {
  return makeChannel({
    id,
    app_id: APP,
    name,
    target: '1.4.1',
    public: false,
    electron: true,
    strategy: 'major',
    block_under_native: false,
    ...patch,
  });
}

const CHANNELS = [channel(1, 'production', { public: true }), channel(2, 'beta', { target: '1.5.0-beta.1' })];

function event(action: string, received_ms: number, patch: Partial<DeviceEvent> = {}): DeviceEvent {
  return makeEvent({ app_id: APP, device_id: ID, action, version_name: '1.4.1', received_ms, ...patch });
}

const EVENTS: DeviceEvent[] = [
  event('download_fail', NOW - 3 * HOUR, { version_name: '1.5.0:assets/big.js' }),
  event('set', NOW - 1 * HOUR, { version_name: '1.4.1', old_version_name: '1.4.0' }),
  event('some_future_action', NOW - 5 * HOUR),
];

interface Script {
  search?: (filter: DeviceFilter) => Promise<DeviceRecord[]>;
  detail?: (deviceId: string, call: number) => Promise<DeviceDetail>;
  channels?: () => Promise<Channel[]>;
  setOverride?: () => Promise<unknown>;
  clearOverride?: () => Promise<boolean>;
}

/** A backend that records every call as text and answers as the test scripts. */
function scripted(script: Script) {
  const calls: string[] = [];
  let detailCalls = 0;
  const backend: Backend = {
    ...unusedBackend,
    listChannels: async (app) => {
      calls.push(`listChannels ${app}`);
      return script.channels ? script.channels() : CHANNELS;
    },
    searchDevices: async (app, filter) => {
      calls.push(`searchDevices ${app} ${JSON.stringify(filter)}`);
      return script.search ? script.search(filter) : [];
    },
    deviceDetail: async (app, deviceId) => {
      calls.push(`deviceDetail ${app} ${deviceId}`);
      detailCalls += 1;
      if (!script.detail) throw new Error('deviceDetail not scripted');
      return script.detail(deviceId, detailCalls);
    },
    setDeviceOverride: async (app, deviceId, ch) => {
      calls.push(`setDeviceOverride ${app} ${deviceId} ${ch}`);
      if (script.setOverride) await script.setOverride();
      return { app_id: app, device_id: deviceId, channel_id: 2, source: 'operator', set_at_ms: NOW };
    },
    clearDeviceOverride: async (app, deviceId) => {
      calls.push(`clearDeviceOverride ${app} ${deviceId}`);
      return script.clearOverride ? script.clearOverride() : true;
    },
  };
  return { backend, calls };
}

async function renderScreen(backend: Backend, { role = 'qa', app = APP as string | null } = {}) {
  await act(async () => {
    render(
      <BackendProvider backend={backend}>
        <SessionProvider session={{ profile: 'staging', url: 'https://updates.example', app, token_id: 1, token_name: 'ci', role }}>
          <CurrentAppProvider app={app}>
            <DevicesScreen />
          </CurrentAppProvider>
        </SessionProvider>
      </BackendProvider>,
    );
  });
}

async function searchFor(text: string) {
  fireEvent.change(screen.getByPlaceholderText(/device id or custom id/i), { target: { value: text } });
  await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Search' })));
}

function searchCalls(calls: string[]) {
  return calls.filter((c) => c.startsWith('searchDevices')).map((c) => JSON.parse(c.slice(c.indexOf('{'))) as DeviceFilter);
}

function button(name: string | RegExp) {
  return screen.getByRole('button', { name }) as HTMLButtonElement;
}

afterEach(cleanup);

describe('DevicesScreen', () => {
  it('asks for an app when none is selected, calling nothing', async () => {
    const { backend, calls } = scripted({});
    await renderScreen(backend, { app: null });
    expect(screen.getByText(/No app selected/)).toBeTruthy();
    expect(calls).toEqual([]);
  });

  it('searches, lists the matches and opens a device with its timeline, newest first', async () => {
    const { backend, calls } = scripted({
      search: async (f) => (f.q === 'anna' ? [device(ID, { custom_id: 'anna@example.com' }), device(OTHER, { platform: 'android', channel: null })] : []),
      detail: async () => ({ device: device(ID, { custom_id: 'anna@example.com' }), override: null, events: EVENTS }),
    });
    await renderScreen(backend);
    // Opening the screen lists recently seen devices of the selected app.
    expect(searchCalls(calls)).toEqual([{ q: null, channel: null, native_version: null, bundle: null, limit: 100 }]);

    fireEvent.change(screen.getByRole('combobox', { name: 'Channel' }), { target: { value: 'production' } });
    fireEvent.change(screen.getByPlaceholderText(/device id or custom id/i), { target: { value: ' anna ' } });
    // Enter in the search box submits.
    await act(async () => fireEvent.submit(screen.getByRole('search')));
    expect(searchCalls(calls)[1]).toEqual({ q: 'anna', channel: 'production', native_version: null, bundle: null, limit: 100 });

    const table = screen.getByTestId('device-results');
    const rows = within(table).getAllByRole('row').slice(1);
    expect(rows).toHaveLength(2);
    expect(rows[0].textContent).toContain(ID);
    expect(rows[0].textContent).toContain('anna@example.com');
    expect(rows[0].textContent).toContain('2 h ago');
    expect(rows[1].textContent).toContain('android');
    expect(screen.getByText(/2 devices matching “anna”, channel production/)).toBeTruthy();

    await act(async () => fireEvent.click(rows[0]));
    expect(calls).toContain(`deviceDetail ${APP} ${ID}`);
    const detail = screen.getByTestId('device-detail');
    expect(within(detail).getByTestId('device-id').textContent).toBe(ID);
    expect(screen.getByTestId('device-channel').textContent).toContain('production');
    expect(screen.getByTestId('device-channel').textContent).not.toContain('override');
    expect(within(detail).getByText('Production build')).toBeTruthy();
    expect(within(detail).getByText('Physical device')).toBeTruthy();

    const items = within(screen.getByTestId('device-timeline')).getAllByRole('listitem');
    expect(items.map((li) => li.getAttribute('data-action'))).toEqual(['set', 'download_fail', 'some_future_action']);
    expect(items[0].textContent).toContain('Installed and switched to bundle 1.4.1');
    expect(items[0].textContent).toContain('from 1.4.0');
    expect(items[1].textContent).toContain('Download failed');
    expect(items[1].textContent).toContain('assets/big.js');
    expect(items[1].className).toContain('tone-failure');
    expect(items[0].className).not.toContain('tone-failure');
    expect(items[2].textContent).toContain('some_future_action');

    // Back to the same results, without searching again.
    const before = searchCalls(calls).length;
    fireEvent.click(button('Back to results'));
    expect(screen.queryByTestId('device-detail')).toBeNull();
    expect(within(screen.getByTestId('device-results')).getAllByRole('row')).toHaveLength(3);
    expect(searchCalls(calls)).toHaveLength(before);
    expect(document.activeElement?.textContent).toBe(ID);
  });

  it('opens a device from the keyboard through its row button', async () => {
    const { backend, calls } = scripted({
      search: async () => [device(ID)],
      detail: async () => ({ device: device(ID), override: null, events: [] }),
    });
    await renderScreen(backend);
    const open = button(`Open device ${ID}`);
    open.focus();
    // A native button turns Enter into a click; jsdom does not, so click is what we can check.
    await act(async () => fireEvent.click(open));
    expect(calls).toContain(`deviceDetail ${APP} ${ID}`);
    expect(screen.getByTestId('device-timeline').textContent).toContain('No events from this device yet');
  });

  it('opens a full device id straight away, but lists a prefix match', async () => {
    const { backend, calls } = scripted({
      search: async (f) => (f.q ? [device(ID)] : []),
      detail: async () => ({ device: device(ID), override: null, events: [] }),
    });
    await renderScreen(backend);
    await searchFor(ID.slice(0, 8));
    expect(screen.queryByTestId('device-detail')).toBeNull();
    expect(screen.getByTestId('device-results')).toBeTruthy();

    await searchFor(ID.toUpperCase());
    expect(screen.getByTestId('device-detail')).toBeTruthy();
    expect(calls.filter((c) => c.startsWith('deviceDetail'))).toEqual([`deviceDetail ${APP} ${ID}`]);
  });

  it('says what was searched when nothing matched, and can open a device never seen', async () => {
    const { backend, calls } = scripted({
      search: async () => [],
      detail: async () => ({
        device: null,
        override: { channel: 'beta', source: 'operator', set_at_ms: NOW - HOUR },
        events: [],
      }),
    });
    await renderScreen(backend);
    expect(screen.getByTestId('device-no-results').textContent).toContain('No device of this app has checked in yet');
    fireEvent.change(screen.getByLabelText('Bundle version'), { target: { value: '9.9.9' } });
    await searchFor('Ghost-1');
    expect(screen.getByTestId('device-no-results').textContent).toContain('No device matched “Ghost-1”, bundle 9.9.9.');

    await act(async () => fireEvent.click(button('Open device ghost-1')));
    expect(calls).toContain(`deviceDetail ${APP} ghost-1`);
    expect(screen.getByText(/never checked in/)).toBeTruthy();
    expect(screen.getByTestId('device-channel').textContent).toContain('beta');
    expect(screen.getByTestId('device-channel').textContent).toContain('override');
    expect(screen.getByTestId('device-channel').textContent).toContain('set by QA');
  });

  it('sets an override with the app, device and channel, then reloads the device', async () => {
    const { backend, calls } = scripted({
      search: async () => [device(ID)],
      detail: async (_, n) => ({
        device: device(ID, { channel: 'production' }),
        override: n === 1 ? null : { channel: 'beta', source: 'operator', set_at_ms: NOW },
        events: [],
      }),
    });
    await renderScreen(backend);
    await act(async () => fireEvent.click(button(`Open device ${ID}`)));
    expect(screen.queryByRole('button', { name: 'Clear override' })).toBeNull();
    expect(button('Set override').disabled).toBe(true); // nothing chosen yet

    fireEvent.change(screen.getByRole('combobox', { name: 'Pin to channel' }), { target: { value: 'beta' } });
    await act(async () => fireEvent.click(button('Set override')));

    expect(calls.filter((c) => c.startsWith('setDeviceOverride'))).toEqual([`setDeviceOverride ${APP} ${ID} beta`]);
    expect(calls.filter((c) => c.startsWith('deviceDetail'))).toHaveLength(2);
    expect(screen.getByTestId('override-status').textContent).toContain(`Device ${ID} is now pinned to beta`);
    const channelFact = screen.getByTestId('device-channel');
    expect(channelFact.textContent).toContain('beta');
    expect(channelFact.textContent).toContain('override');
    expect(channelFact.textContent).toContain('set by QA');
    expect(screen.getByTestId('device-channel-pending').textContent).toContain('it got production');
    expect(button('Change override')).toBeTruthy();
    expect(button('Clear override')).toBeTruthy();
  });

  it('shows a failed override change with a Retry that sends it again', async () => {
    let attempts = 0;
    const { backend, calls } = scripted({
      search: async () => [device(ID)],
      detail: async () => ({ device: device(ID), override: null, events: [] }),
      setOverride: async () => {
        attempts += 1;
        if (attempts === 1) throw { code: 'forbidden', message: 'this token may not change device channels' };
      },
    });
    await renderScreen(backend);
    await act(async () => fireEvent.click(button(`Open device ${ID}`)));
    fireEvent.change(screen.getByRole('combobox', { name: 'Pin to channel' }), { target: { value: 'beta' } });
    await act(async () => fireEvent.click(button('Set override')));
    expect(screen.getByRole('alert').textContent).toContain('this token may not change device channels');
    await act(async () => fireEvent.click(button('Retry')));
    expect(calls.filter((c) => c.startsWith('setDeviceOverride'))).toHaveLength(2);
    expect(screen.queryByRole('alert')).toBeNull();
    expect(screen.getByTestId('override-status')).toBeTruthy();
  });

  it('asks before clearing an override; Cancel changes nothing, confirming clears and reloads', async () => {
    const { backend, calls } = scripted({
      search: async () => [device(ID)],
      detail: async (_, n) => ({
        device: device(ID, { channel: 'beta' }),
        override: n === 1 ? { channel: 'beta', source: 'device', set_at_ms: NOW - HOUR } : null,
        events: [],
      }),
    });
    await renderScreen(backend);
    await act(async () => fireEvent.click(button(`Open device ${ID}`)));
    expect(screen.getByTestId('device-channel').textContent).toContain('set by the device (setChannel)');

    fireEvent.click(button('Clear override'));
    const dialog = screen.getByRole('dialog');
    expect(within(dialog).getByTestId('confirm-body').textContent).toContain(
      `Device ${ID} will go back to the channel it would get by itself (`,
    );
    expect(within(dialog).getByTestId('confirm-body').textContent).toContain('default channel for ios devices: production');
    fireEvent.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(calls.filter((c) => c.startsWith('clearDeviceOverride'))).toEqual([]);

    fireEvent.click(button('Clear override'));
    await act(async () => fireEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Clear override' })));
    expect(calls.filter((c) => c.startsWith('clearDeviceOverride'))).toEqual([`clearDeviceOverride ${APP} ${ID}`]);
    expect(calls.filter((c) => c.startsWith('deviceDetail'))).toHaveLength(2);
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(screen.getByTestId('override-status').textContent).toContain('Override cleared');
    expect(screen.getByTestId('device-channel').textContent).not.toContain('override');
    expect(screen.queryByRole('button', { name: 'Clear override' })).toBeNull();
  });

  it('shows a viewer the override controls disabled, with the reason', async () => {
    const { backend, calls } = scripted({
      search: async () => [device(ID)],
      detail: async () => ({ device: device(ID), override: { channel: 'beta', source: 'operator', set_at_ms: NOW }, events: [] }),
    });
    await renderScreen(backend, { role: 'viewer' });
    await act(async () => fireEvent.click(button(`Open device ${ID}`)));
    expect((screen.getByRole('combobox', { name: 'Pin to channel' }) as HTMLSelectElement).disabled).toBe(true);
    expect(button('Change override').disabled).toBe(true);
    expect(button('Clear override').disabled).toBe(true);
    const denied = screen.getByTestId('override-denied');
    expect(denied.className).toContain('denied');
    expect(denied.textContent).toBe("Your token's role (viewer) cannot change device channels: a qa or admin token can.");
    fireEvent.click(button('Clear override'));
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(calls.some((c) => c.includes('Override'))).toBe(false);
  });

  it('shows a failed search with a Retry that searches again', async () => {
    let fail = true;
    const { backend, calls } = scripted({
      search: async () => {
        if (fail) throw { code: 'network', message: 'could not reach https://updates.example' };
        return [device(ID)];
      },
    });
    await renderScreen(backend);
    const alert = screen.getByRole('alert');
    expect(alert.textContent).toContain('could not reach https://updates.example');
    expect(screen.queryByText('Loading…')).toBeNull();
    expect(screen.queryByTestId('device-results')).toBeNull();

    fail = false;
    await act(async () => fireEvent.click(within(alert).getByRole('button', { name: 'Retry' })));
    expect(searchCalls(calls)).toHaveLength(2);
    expect(screen.queryByRole('alert')).toBeNull();
    expect(screen.getByTestId('device-results').textContent).toContain(ID);
  });

  it('shows a failed device page with a Retry, and Loading… meanwhile', async () => {
    let release: (() => void) | undefined;
    const { backend } = scripted({
      search: async () => [device(ID)],
      detail: (_, n) => {
        if (n === 1) return Promise.reject({ code: 'internal', message: 'device lookup failed' });
        return new Promise((resolve) => {
          release = () => resolve({ device: device(ID), override: null, events: [event('reset', NOW)] });
        });
      },
    });
    await renderScreen(backend);
    await act(async () => fireEvent.click(button(`Open device ${ID}`)));
    expect(screen.getByRole('alert').textContent).toContain('device lookup failed');
    await act(async () => fireEvent.click(button('Retry')));
    expect(within(screen.getByTestId('device-detail')).getByText('Loading…')).toBeTruthy();
    await act(async () => release!());
    expect(screen.queryByRole('alert')).toBeNull();
    expect(screen.queryByText('Loading…')).toBeNull();
    expect(screen.getByTestId('device-timeline').textContent).toContain('Reset to the store build');
  });

  it('reports channels that failed to load, and Retry loads them', async () => {
    let fail = true;
    const { backend, calls } = scripted({
      channels: async () => {
        if (fail) throw { code: 'network', message: 'timed out' };
        return CHANNELS;
      },
    });
    await renderScreen(backend);
    expect(screen.getByRole('alert').textContent).toContain('Could not load the channels: timed out');
    fail = false;
    await act(async () => fireEvent.click(button('Retry')));
    expect(calls.filter((c) => c.startsWith('listChannels'))).toHaveLength(2);
    expect(screen.queryByRole('alert')).toBeNull();
    const options = Array.from((screen.getByRole('combobox', { name: 'Channel' }) as HTMLSelectElement).options).map((o) => o.value);
    expect(options).toEqual(['', 'production', 'beta']);
  });
});
