// The Channels screen against a scripted Backend: confirmations in words before anything is
// sent, the calls made, and role rules. The real server is exercised by the WebDriver suite.
import { cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { Channel } from '../../bindings/Channel';
import type { Session } from '../../bindings/Session';
import { CurrentAppProvider } from '../../lib/app';
import type { Backend } from '../../lib/backend/backend';
import { BackendProvider } from '../../lib/backend/context';
import { SessionProvider } from '../../lib/session';
import { unusedBackend } from '../../test/backends';
import { makePlanView } from '../../test/fixtures';
import { ChannelsScreen } from './ChannelsScreen';
import { channel } from './fixtures';

const APP = 'com.example.app';

function session(role: string): Session {
  return { profile: 'local', url: 'http://127.0.0.1:8787', app: APP, token_id: 1, token_name: 'me', role };
}

function scripted(channels: Channel[]) {
  const calls: string[] = [];
  let served = channels;
  const backend: Backend = {
    ...unusedBackend,
    listChannels: async (app) => {
      calls.push(`list ${app}`);
      return served;
    },
    listBundles: async () => [],
    channelHistory: async () => [
      {
        id: 2,
        channel: 'production',
        min_native: null,
        action: 'publish',
        target_before: '1.0.0',
        target_after: '1.0.1',
        rollout_before: null,
        rollout_after: null,
        actor: 'ci',
        at_ms: 0,
        reason: null,
      },
    ],
    rollbackChannel: async (app, name, to, minNative) => {
      calls.push(`rollback ${app} ${name} ${to} ${minNative}`);
      served = served.map((c) => (c.name === name ? channel({ target: '1.0.0', revision: c.revision + 1 }) : c));
      return served[0];
    },
    changeRollout: async (_app, name, action, minNative) => {
      calls.push(`rollout ${name} ${JSON.stringify(action)} ${minNative}`);
      return served[0];
    },
  };
  return { backend, calls };
}

function renderScreen(backend: Backend, role = 'publisher') {
  render(
    <BackendProvider backend={backend}>
      <SessionProvider session={session(role)}>
        <CurrentAppProvider app={APP}>
          <ChannelsScreen />
        </CurrentAppProvider>
      </SessionProvider>
    </BackendProvider>,
  );
}

afterEach(cleanup);

describe('ChannelsScreen', () => {
  it('confirms a rollback in words, and sends nothing when cancelled', async () => {
    const { backend, calls } = scripted([channel({ target: '1.0.1' })]);
    renderScreen(backend);
    const card = await screen.findByTestId('channel-production');
    expect(within(card).getByTestId('serves').textContent).toBe('Serves 1.0.1 to every device.');

    fireEvent.click(within(card).getByRole('button', { name: 'Roll back to previous' }));
    const dialog = await screen.findByRole('dialog');
    expect(dialog.textContent).toContain('Roll production back to 1.0.0?');
    expect(dialog.textContent).toContain('Every device on production goes from 1.0.1 to 1.0.0');
    fireEvent.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(calls.filter((c) => c.startsWith('rollback'))).toEqual([]);

    fireEvent.click(within(card).getByRole('button', { name: 'Roll back to previous' }));
    fireEvent.click(within(await screen.findByRole('dialog')).getByRole('button', { name: 'Roll back' }));
    expect((await screen.findByTestId('channel-notice')).textContent).toBe('production was rolled back.');
    expect(calls).toContain(`rollback ${APP} production previous any`);
    // The screen reloads and shows the new state.
    expect((await screen.findByText('Serves 1.0.0 to every device.')).tagName).toBe('P');
  });

  it('widens a rollout to the typed share', async () => {
    const { backend, calls } = scripted([
      channel({ rollout: { version: '1.1.0', share_bp: 1000, started_at_ms: 0 } }),
    ]);
    renderScreen(backend);
    const card = await screen.findByTestId('channel-production');
    fireEvent.change(within(card).getByRole('spinbutton'), { target: { value: '50' } });
    fireEvent.click(within(card).getByRole('button', { name: 'Change share' }));
    const dialog = await screen.findByRole('dialog');
    expect(dialog.textContent).toContain('50 % of production\'s devices will get 1.1.0 (now 10 %)');
    fireEvent.click(within(dialog).getByRole('button', { name: 'Widen rollout' }));
    await screen.findByTestId('channel-notice');
    expect(calls).toContain('rollout production {"kind":"percent","percent":50} any');
  });

  it('shows what the fleet would get before the change is confirmed', async () => {
    const previews: unknown[] = [];
    const { backend: base, calls } = scripted([
      channel({ rollout: { version: '1.1.0', share_bp: 1000, started_at_ms: 0 } }),
    ]);
    const backend: Backend = {
      ...base,
      previewChange: async (app, change, days) => {
        previews.push([app, change, days]);
        return {
          days: 30,
          devices: 12430,
          changed: 9812,
          groups: [
            {
              devices: 9812,
              after: { kind: 'receives', version: '1.1.0' },
              before: { kind: 'stays' },
              channel: 'production',
              pinned: false,
              current: null,
              native_versions: ['2.4.0'],
              native_versions_more: 0,
            },
            {
              devices: 2400,
              after: { kind: 'blocked', code: 'disable_auto_update_to_metadata', would_get: '1.1.0' },
              before: { kind: 'blocked', code: 'disable_auto_update_to_metadata', would_get: '1.1.0' },
              channel: 'production',
              pinned: false,
              current: '1.0.2',
              native_versions: ['2.3.0', '2.3.1'],
              native_versions_more: 0,
            },
            {
              devices: 218,
              after: { kind: 'stays' },
              before: { kind: 'stays' },
              channel: 'beta',
              pinned: true,
              current: '1.0.4',
              native_versions: ['2.4.0'],
              native_versions_more: 0,
            },
          ],
        };
      },
    };
    renderScreen(backend);
    const card = await screen.findByTestId('channel-production');
    fireEvent.change(within(card).getByRole('spinbutton'), { target: { value: '50' } });
    fireEvent.click(within(card).getByRole('button', { name: 'Change share' }));
    const dialog = await screen.findByRole('dialog');
    const preview = await within(dialog).findByText(/12,430 devices seen in the last 30 days/);
    expect(preview.textContent).toBe('12,430 devices seen in the last 30 days; 9,812 would get a different answer.');
    const lines = within(within(dialog).getByTestId('fleet-preview')).getAllByRole('listitem').map((li) => li.textContent);
    expect(lines).toEqual([
      '9,812 would receive 1.1.0 (production; native 2.4.0; now: stay)',
      '2,400 stay on 1.0.2, blocked from 1.1.0 by MIN_NATIVE_VERSION (disable_auto_update_to_metadata) (production; native 2.3.0, 2.3.1)',
      '218 stay on 1.0.4 (pinned to beta; native 2.4.0)',
    ]);
    // The preview asked about exactly the change the dialog confirms, and changed nothing.
    expect(previews).toEqual([
      [APP, { kind: 'rollout_change', channel: 'production', percent: 50, min_native: 'any' }, null],
    ]);
    expect(calls.filter((c) => c.startsWith('rollout'))).toEqual([]);
    fireEvent.click(within(dialog).getByRole('button', { name: 'Widen rollout' }));
    await screen.findByTestId('channel-notice');
    expect(calls).toContain('rollout production {"kind":"percent","percent":50} any');
  });

  it('a failed preview is said, and does not stop the change', async () => {
    const { backend: base, calls } = scripted([channel({ target: '1.0.1' })]);
    const backend: Backend = {
      ...base,
      previewChange: async () => {
        throw { code: 'network', message: 'The server at http://127.0.0.1:8787 cannot be reached.' };
      },
    };
    renderScreen(backend);
    const card = await screen.findByTestId('channel-production');
    fireEvent.click(within(card).getByRole('button', { name: 'Roll back to previous' }));
    const dialog = await screen.findByRole('dialog');
    expect((await within(dialog).findByText(/No fleet preview/)).textContent).toContain('cannot be reached');
    fireEvent.click(within(dialog).getByRole('button', { name: 'Roll back' }));
    await screen.findByTestId('channel-notice');
    expect(calls).toContain(`rollback ${APP} production previous any`);
  });

  it('a viewer sees why the actions are disabled', async () => {
    const { backend } = scripted([channel({ rollout: { version: '1.1.0', share_bp: 1000, started_at_ms: 0 } })]);
    renderScreen(backend, 'viewer');
    const card = await screen.findByTestId('channel-production');
    expect(within(card).getByText(/role \(viewer\) cannot change rollouts/)).toBeTruthy();
    for (const name of ['Finish rollout', 'Abort rollout', 'Roll back to previous', 'Change share']) {
      expect((within(card).getByRole('button', { name }) as HTMLButtonElement).disabled).toBe(true);
    }
  });

  it('shows a failed load with a retry that recovers', async () => {
    let fail = true;
    const backend: Backend = {
      ...scripted([channel()]).backend,
      listChannels: async () => {
        if (fail) throw { code: 'network', message: 'The server at http://127.0.0.1:8787 cannot be reached.' };
        return [channel()];
      },
    };
    renderScreen(backend);
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('cannot be reached');
    fail = false;
    fireEvent.click(within(alert).getByRole('button', { name: 'Retry' }));
    expect(await screen.findByTestId('channel-production')).toBeTruthy();
  });
});

describe('ChannelsScreen settings', () => {
  it('saves only the switches that changed, after listing them', async () => {
    const patches: unknown[] = [];
    const backend: Backend = {
      ...scripted([channel()]).backend,
      updateChannel: async (_app, name, patch) => {
        patches.push([name, patch]);
        return channel();
      },
    };
    renderScreen(backend);
    const card = await screen.findByTestId('channel-production');
    fireEvent.click(within(card).getByRole('button', { name: 'Edit settings' }));
    const save = within(card).getByRole('button', { name: 'Save settings' }) as HTMLButtonElement;
    expect(save.disabled).toBe(true);
    fireEvent.click(within(card).getByLabelText('Serve emulators and simulators'));
    fireEvent.change(within(card).getByLabelText('Version rule'), { target: { value: 'major' } });
    fireEvent.click(save);
    const dialog = await screen.findByRole('dialog');
    expect(dialog.textContent).toContain('Serve emulators and simulators: off');
    expect(dialog.textContent).toContain('Version rule: Same major version as the native app');
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save settings' }));
    await screen.findByTestId('channel-notice');
    expect(patches).toEqual([
      [
        'production',
        { allow_emulator: false, strategy: 'major' },
      ],
    ]);
  });

  it('Refresh shows a plan the server paused by itself (the channel itself did not change)', async () => {
    const rollout = { version: '1.1.0', share_bp: 1_000, started_at_ms: 0 };
    let plan = makePlanView();
    const { backend } = scripted([channel({ rollout })]);
    renderScreen({ ...backend, channelPlan: async () => plan });
    expect((await screen.findByTestId('plan-status')).textContent).toBe('1.1.0: active');
    plan = makePlanView({ status: 'paused', reason: 'paused: 1.1.0 is failing' }, { next_step_at_ms: null });
    fireEvent.click(screen.getByRole('button', { name: 'Refresh' }));
    expect((await screen.findByTestId('plan-reason')).textContent).toBe('paused: 1.1.0 is failing');
    expect(screen.getByTestId('plan-status').textContent).toBe('1.1.0: paused');
  });
});
