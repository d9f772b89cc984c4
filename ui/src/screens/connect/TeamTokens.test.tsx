import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { TokenRecord } from '../../bindings/TokenRecord';
import type { Backend } from '../../lib/backend/backend';
import { BackendProvider } from '../../lib/backend/context';
import { unusedBackend } from '../../test/backends';
import { TeamTokens } from './TeamTokens';

afterEach(cleanup);

function scripted() {
  const calls: string[] = [];
  let tokens: TokenRecord[] = [
    { id: 1, name: 'admin laptop', role: 'admin', created_at_ms: 1, revoked_at_ms: null },
    { id: 2, name: 'ci', role: 'publisher', created_at_ms: 2, revoked_at_ms: null },
  ];
  const backend: Backend = {
    ...unusedBackend,
    listTokens: async () => tokens,
    createToken: async ({ name, role }) => {
      calls.push(`create ${name} ${role}`);
      const record = { id: 3, name, role, created_at_ms: 3, revoked_at_ms: null };
      tokens = [...tokens, record];
      return { record, token: 'capstan_secret_once' };
    },
    revokeToken: async (id) => {
      calls.push(`revoke ${id}`);
      tokens = tokens.map((t) => (t.id === id ? { ...t, revoked_at_ms: 9 } : t));
      return tokens.find((t) => t.id === id)!;
    },
  };
  return { backend, calls };
}

function renderTokens(backend: Backend) {
  render(
    <BackendProvider backend={backend}>
      <TeamTokens currentTokenId={1} />
    </BackendProvider>,
  );
}

describe('TeamTokens', () => {
  it('creates a token and shows its secret once, with the role chosen', async () => {
    const { backend, calls } = scripted();
    renderTokens(backend);
    await act(async () => {});
    fireEvent.change(document.querySelector('[name=token-name]')!, { target: { value: ' support: Dana ' } });
    fireEvent.change(document.querySelector('[name=token-role]')!, { target: { value: 'qa' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Create token' })));
    expect(calls).toEqual(['create support: Dana qa']);
    expect(screen.getByTestId('created-token-secret').textContent).toBe('capstan_secret_once');
    expect(screen.getByTestId('created-token').textContent).toContain('not shown again');
    expect(within(screen.getByTestId('token-table')).getByText('support: Dana')).toBeTruthy();
  });

  it('revokes after a confirmation, never the console’s own token', async () => {
    const { backend, calls } = scripted();
    renderTokens(backend);
    await act(async () => {});
    const table = screen.getByTestId('token-table');
    // The admin's own token has no Revoke button: it would lock this console out.
    expect(within(table.querySelector('[data-token-id="1"]') as HTMLElement).queryByRole('button')).toBeNull();
    fireEvent.click(within(table.querySelector('[data-token-id="2"]') as HTMLElement).getByRole('button', { name: 'Revoke' }));
    const dialog = screen.getByRole('dialog');
    expect(dialog.textContent).toContain('a CI job using it stops publishing');
    fireEvent.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(calls).toEqual([]);
    fireEvent.click(within(table.querySelector('[data-token-id="2"]') as HTMLElement).getByRole('button', { name: 'Revoke' }));
    await act(async () => fireEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Revoke' })));
    expect(calls).toEqual(['revoke 2']);
    expect(screen.getByTestId('token-table').querySelector('[data-token-id="2"]')!.textContent).toContain('revoked');
  });
});
