import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { App } from '../../bindings/App';
import type { Backend } from '../../lib/backend/backend';
import { BackendProvider } from '../../lib/backend/context';
import { unusedBackend } from '../../test/backends';
import { CreateAppCard } from './CreateAppCard';

afterEach(cleanup);

function renderCard(backend: Backend, role: string, created: App[]) {
  render(
    <BackendProvider backend={backend}>
      <CreateAppCard role={role} onCreated={(app) => created.push(app)} />
    </BackendProvider>,
  );
}

describe('CreateAppCard', () => {
  it('registers an app and tells the shell', async () => {
    const sent: unknown[] = [];
    const created: App[] = [];
    renderCard(
      {
        ...unusedBackend,
        createApp: async (id, name) => {
          sent.push([id, name]);
          return { id, name: name ?? id, default_channel: 'production', created_at_ms: 0 };
        },
      },
      'admin',
      created,
    );
    fireEvent.change(document.querySelector('[name=new-app-id]')!, { target: { value: ' com.example.shop ' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Register app' })));
    expect(sent).toEqual([['com.example.shop', null]]);
    expect(created.map((a) => a.id)).toEqual(['com.example.shop']);
    expect(screen.getByTestId('app-created').textContent).toContain('com.example.shop');
  });

  it('shows the server refusing an id, and keeps what was typed', async () => {
    renderCard(
      {
        ...unusedBackend,
        createApp: async () => {
          throw { code: 'invalid_input', message: 'app id `shop` is not a reverse-DNS id' };
        },
      },
      'admin',
      [],
    );
    fireEvent.change(document.querySelector('[name=new-app-id]')!, { target: { value: 'shop' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Register app' })));
    expect(screen.getByRole('alert').textContent).toContain('not a reverse-DNS id');
    expect((document.querySelector('[name=new-app-id]') as HTMLInputElement).value).toBe('shop');
  });

  it('is disabled for roles below admin, with the reason', () => {
    renderCard(unusedBackend, 'publisher', []);
    expect(screen.getByText("Your token's role (publisher) cannot register apps: an admin token can.")).toBeTruthy();
    expect((screen.getByRole('button', { name: 'Register app' }) as HTMLButtonElement).disabled).toBe(true);
  });
});
