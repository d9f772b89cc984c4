import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { AppKeyStatus } from '../../bindings/AppKeyStatus';
import type { KeyDetails } from '../../bindings/KeyDetails';
import type { Session } from '../../bindings/Session';
import type { Backend } from '../../lib/backend/backend';
import { CurrentAppProvider } from '../../lib/app';
import { BackendProvider } from '../../lib/backend/context';
import { SessionProvider } from '../../lib/session';
import { unusedBackend } from '../../test/backends';
import { KeysScreen } from './KeysScreen';

const APP = 'com.example.app';
const KEY = 'MIIBCgKCAQEAnewkey00';
const PEM = `-----BEGIN RSA PUBLIC KEY-----\nMIIBCgKCAQEAnewkey00…\n-----END RSA PUBLIC KEY-----`;

afterEach(cleanup);

function session(role: string): Session {
  return { profile: 'local', url: 'http://127.0.0.1:8080', app: APP, token_id: 1, token_name: 'me', role };
}

/** A server and keychain in memory: the app starts without a key; calls are recorded. */
function scripted(requireRefusal: string | null = null) {
  const calls: string[] = [];
  let status: AppKeyStatus = {
    app: APP,
    name: 'Example',
    require_signed: false,
    registered: [],
    local_key_id: null,
    local_source: null,
    signs: false,
  };
  const other: AppKeyStatus = { ...status, app: 'com.example.other', name: 'Other' };
  const details = (registered: boolean): KeyDetails => ({
    app: APP,
    key_id: KEY,
    public_key: PEM,
    config_snippet: JSON.stringify({ plugins: { CapacitorUpdater: { publicKey: PEM } } }, null, 2),
    registered,
    replaced: false,
  });
  const backend: Backend = {
    ...unusedBackend,
    keysOverview: async () => [status, other],
    createSigningKey: async (app, register, replace) => {
      calls.push(`create ${app} register=${register} replace=${replace}`);
      status = {
        ...status,
        local_key_id: KEY,
        local_source: 'the OS keychain',
        signs: register,
        registered: register ? [{ key_id: KEY, public_key: PEM, created_by: 'me', created_at_ms: 1 }] : [],
      };
      return details(register);
    },
    showSigningKey: async () => details(status.signs),
    exportSigningKey: async (app, path) => {
      calls.push(`export ${app} ${path}`);
      return KEY;
    },
    setRequireSigned: async (app, required) => {
      calls.push(`require ${app} ${required}`);
      if (requireRefusal) throw { code: 'invalid_input', message: requireRefusal };
      status = { ...status, require_signed: required };
      return { app_id: app, require_signed: required, keys: status.registered };
    },
    keyCoverage: async (app, days) => ({
      app_id: app,
      active_days: days,
      active_devices: 4,
      totals: [{ native_version: null, trust: 'registered', key_id: KEY, devices: 3, percent: 75 }],
      by_native: [
        { native_version: '2.0.0', trust: 'registered', key_id: KEY, devices: 3, percent: 100 },
        { native_version: '1.0.0', trust: 'unknown', key_id: null, devices: 1, percent: 100 },
      ],
    }),
  };
  return { backend, calls };
}

async function renderKeys(backend: Backend, role: string) {
  await act(async () => {
    render(
      <BackendProvider backend={backend}>
        <SessionProvider session={session(role)}>
          <CurrentAppProvider app={APP}>
            <KeysScreen />
          </CurrentAppProvider>
        </SessionProvider>
      </BackendProvider>,
    );
  });
}

describe('KeysScreen', () => {
  it('creates and registers a key as an admin, then shows the public key and the config snippet', async () => {
    const { backend, calls } = scripted();
    await renderKeys(backend, 'admin');
    expect(screen.getByTestId('local-key').textContent).toMatch(/holds no signing key/);
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Create key' })));
    expect(calls).toEqual([`create ${APP} register=true replace=false`]);
    expect(screen.getByTestId('key-notice').textContent).toMatch(/private half is in this machine’s OS keychain, its public half is registered/);
    expect(screen.getByTestId('public-key').textContent).toBe(PEM);
    expect(JSON.parse(screen.getByTestId('config-snippet').textContent!).plugins.CapacitorUpdater.publicKey).toBe(PEM);
    // The overview was read again: the key now signs the app.
    expect(screen.getByTestId('local-key').textContent).toMatch(/signs com.example.app’s bundles with key MIIBCgKCAQEAnewkey00/);
    const row = screen.getByTestId('keys-table').querySelector(`[data-app="${APP}"]`) as HTMLElement;
    expect(row.textContent).toContain(`${KEY}`);
    expect(row.textContent).toContain('signs (from the OS keychain)');
  });

  it('lets a publisher keep a key locally only, and explains the admin switches', async () => {
    const { backend, calls } = scripted();
    await renderKeys(backend, 'publisher');
    const register = document.querySelector('[name=register-key]') as HTMLInputElement;
    expect(register.checked).toBe(false);
    expect(register.disabled).toBe(true);
    expect((document.querySelector('[name=require-signed]') as HTMLInputElement).disabled).toBe(true);
    expect(screen.getByTestId('require-signed').textContent).toMatch(/cannot register signing keys or change the signing rule/);
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Create key' })));
    expect(calls).toEqual([`create ${APP} register=false replace=false`]);
    expect(screen.getByTestId('key-notice').textContent).toMatch(/an admin still has to register it/);
    expect(screen.getByTestId('local-key').textContent).toMatch(/not registered: the server refuses what it signs/);
  });

  it('exports a backup with a warning, and shows why requiring signed bundles was refused', async () => {
    const refusal = 'channel `production` serves 1.0.0, which is not signed with a registered key';
    const { backend, calls } = scripted(refusal);
    await renderKeys(backend, 'admin');
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Create key' })));
    fireEvent.change(document.querySelector('[name=export-path]')!, { target: { value: ' /backup/app.pem ' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Export key' })));
    expect(calls).toContain(`export ${APP} /backup/app.pem`);
    expect(screen.getByTestId('key-notice').textContent).toMatch(/Whoever reads that file can publish bundles/);

    const required = document.querySelector('[name=require-signed]') as HTMLInputElement;
    await act(async () => fireEvent.click(required));
    expect(calls).toContain(`require ${APP} true`);
    expect(within(screen.getByTestId('require-signed')).getByRole('alert').textContent).toContain(refusal);
    expect(required.checked).toBe(false);
    expect(screen.getByTestId('require-signed').textContent).toMatch(/Android devices install an unsigned bundle/);
  });

  it('shows which keys active devices trust, per native version', async () => {
    const { backend } = scripted();
    await renderKeys(backend, 'viewer');
    const table = screen.getByTestId('coverage-table');
    const rows = Array.from(table.querySelectorAll('tbody tr')).map((r) => r.textContent);
    expect(rows).toEqual([
      `All native versionskey ${KEY} (registered)375.0 %`,
      `Native 2.0.0key ${KEY} (registered)3100.0 %`,
      'Native 1.0.0unknown: plugin 8.2–8.40.7 reports 4 characters, the same for every key1100.0 %',
    ]);
    expect(screen.getByTestId('key-coverage').textContent).toMatch(/4 devices seen in the last 30 days/);
  });
});
