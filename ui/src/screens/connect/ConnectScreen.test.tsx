// Connecting: what is sent to the keychain-backed connect command, what a refusal looks like,
// and switching between saved profiles.
import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { Session } from '../../bindings/Session';
import type { Backend } from '../../lib/backend/backend';
import { BackendProvider } from '../../lib/backend/context';
import { unusedBackend } from '../../test/backends';
import { ConnectScreen } from './ConnectScreen';

const staging: Session = { profile: 'staging', url: 'https://staging.example.com', app: null, token_id: 1, token_name: 'me', role: 'qa' };

function renderScreen(backend: Backend, connected: Session[]) {
  render(
    <BackendProvider backend={backend}>
      <ConnectScreen session={null} onConnected={(s) => connected.push(s)} />
    </BackendProvider>,
  );
}

function fill(name: string, value: string) {
  fireEvent.change(document.querySelector(`[name=${name}]`)!, { target: { value } });
}

afterEach(cleanup);

describe('ConnectScreen', () => {
  it('tests and saves a profile, then forgets the typed token', async () => {
    const sent: unknown[] = [];
    const connected: Session[] = [];
    renderScreen(
      {
        ...unusedBackend,
        listProfiles: async () => [],
        connectServer: async (profile, url, token, app) => (sent.push([profile, url, token, app]), staging),
      },
      connected,
    );
    fill('profile', 'staging');
    fill('url', 'https://staging.example.com');
    fill('token', 'capstan_secret');
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Test and save' })));
    expect(sent).toEqual([['staging', 'https://staging.example.com', 'capstan_secret', null]]);
    expect(connected).toEqual([staging]);
    expect((document.querySelector('[name=token]') as HTMLInputElement).value).toBe('');
  });

  it('shows a refused token in words, with what to do', async () => {
    const connected: Session[] = [];
    renderScreen(
      {
        ...unusedBackend,
        listProfiles: async () => [],
        connectServer: async () => {
          throw { code: 'unauthorized', message: 'The server refused the token.' };
        },
      },
      connected,
    );
    fill('profile', 'prod');
    fill('url', 'https://updates.example.com');
    fill('token', 'capstan_wrong');
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Test and save' })));
    expect(screen.getByRole('alert').textContent).toMatch(/The server refused the token\..*add a new one/);
    expect(connected).toEqual([]);
    expect((screen.getByRole('button', { name: 'Test and save' }) as HTMLButtonElement).disabled).toBe(false);
  });

  it('switches to another saved profile', async () => {
    const switched: string[] = [];
    const connected: Session[] = [];
    renderScreen(
      {
        ...unusedBackend,
        listProfiles: async () => [
          { name: 'local', url: 'http://127.0.0.1:8787', app: 'com.example.hello', active: true },
          { name: 'staging', url: 'https://staging.example.com', app: null, active: false },
        ],
        switchProfile: async (name) => void switched.push(name),
        currentSession: async () => staging,
      },
      connected,
    );
    await act(async () => {});
    expect(screen.getByText('active')).toBeTruthy();
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Use' })));
    expect(switched).toEqual(['staging']);
    expect(connected).toEqual([staging]);
  });
});
