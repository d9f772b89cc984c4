// The shell: first start without a server opens Connect; a session shows where the console
// is connected, the apps to pick from, and every screen in the sidebar.
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from './App';
import type { Backend } from './lib/backend/backend';
import { BackendProvider } from './lib/backend/context';
import { unusedBackend } from './test/backends';

afterEach(cleanup);

describe('App', () => {
  it('opens on Connect when no server is connected', async () => {
    const backend: Backend = {
      ...unusedBackend,
      currentSession: () => Promise.reject({ code: 'not_connected', message: 'no profile' }),
      listProfiles: async () => [],
    };
    render(
      <BackendProvider backend={backend}>
        <App />
      </BackendProvider>,
    );
    expect((await screen.findByTestId('active-server')).textContent).toBe('Not connected');
    expect(await screen.findByRole('heading', { name: 'Connect to a Capstan server' })).toBeTruthy();
  });

  it('shows the active server and picks the profile app among the server apps', async () => {
    const backend: Backend = {
      ...unusedBackend,
      currentSession: async () => ({
        profile: 'staging',
        url: 'https://updates.example.com',
        app: 'com.example.two',
        token_id: 1, token_name: 'alice',
        role: 'publisher',
      }),
      listAppChannels: async () => [
        { app: 'com.example.one', name: 'One', channels: [] },
        { app: 'com.example.two', name: 'Two', channels: [] },
      ],
      listChannels: async () => [],
      listBundles: async () => [],
    };
    render(
      <BackendProvider backend={backend}>
        <App />
      </BackendProvider>,
    );
    expect(await screen.findByText('staging')).toBeTruthy();
    const picker = (await screen.findByRole('combobox', { name: 'App' })) as HTMLSelectElement;
    expect(picker.value).toBe('com.example.two');
    fireEvent.click(screen.getByRole('button', { name: 'Channels' }));
    expect(await screen.findByRole('heading', { name: 'Channels' })).toBeTruthy();
  });
});
