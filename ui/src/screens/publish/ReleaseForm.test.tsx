import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { BundlePreview } from '../../bindings/BundlePreview';
import type { PublishForm } from '../../bindings/PublishForm';
import type { Session } from '../../bindings/Session';
import type { Backend } from '../../lib/backend/backend';
import { BackendProvider } from '../../lib/backend/context';
import { SessionProvider } from '../../lib/session';
import { unusedBackend } from '../../test/backends';
import { ReleaseForm, newestServed } from './ReleaseForm';
import { makeBundle } from '../../test/fixtures';

const preview: BundlePreview = {
  folder: '/app/dist',
  zip_path: '/cache/preview.zip',
  sha256: 'cd'.repeat(32),
  zip_size: 2000,
  total_size: 5000,
  file_count: 3,
  largest_files: [],
  excluded: [],
  warnings: [],
};

function session(role: string): Session {
  return { profile: 'local', url: 'http://127.0.0.1:8080', app: 'com.example.app', token_id: 1, token_name: 'ci', role };
}

function backend(published: PublishForm[], signedWith: string | null): Backend {
  return {
    ...unusedBackend,
    listAppChannels: async () => [
      {
        app: 'com.example.app',
        name: 'Example',
        channels: [
          { name: 'beta', target: null, rollout_version: null, rollout_percent: null },
          { name: 'production', target: '1.0.0', rollout_version: null, rollout_percent: null },
        ],
      },
    ],
    // production serves 1.0.0, a 500-byte zip: the 2000-byte preview is a 4× jump.
    listBundles: async () => [
      makeBundle({ sha256: 'ef'.repeat(32), checksum: 'ef'.repeat(32), size: 500, min_native_version: '2.0.0' }),
    ],
    publishDefaults: async () => ({
      version: '1.0.0',
      version_source: 'file /app/package.json',
      min_native: '2.0.0',
      min_native_source: 'file /app/MIN_NATIVE_VERSION',
    }),
    publishBundle: async (_id, form) => {
      published.push(form);
      return {
        app: form.app,
        channel: form.channel,
        version: form.version,
        sha256: preview.sha256,
        size: 2000,
        files: 3,
        min_native_version: form.min_native,
        min_native_source: 'given explicitly',
        rollout_percent: form.rollout_percent === 100 ? null : form.rollout_percent,
        signed_with: signedWith,
      };
    },
  };
}

async function renderForm(role: string, published: PublishForm[] = [], signedWith: string | null = null) {
  await act(async () => {
    render(
      <BackendProvider backend={backend(published, signedWith)}>
        <SessionProvider session={session(role)}>
          <ReleaseForm preview={preview} />
        </SessionProvider>
      </BackendProvider>,
    );
  });
}

afterEach(cleanup);

describe('ReleaseForm', () => {
  it('warns when the bundle is much larger than what the channel serves', async () => {
    await renderForm('publisher');
    expect((await screen.findByTestId('size-jump')).textContent).toMatch(/4\.0× the size of 1\.0\.0/);
  });

  it('prefills from the project and refuses a version the channel already serves', async () => {
    await renderForm('publisher');
    expect((screen.getByDisplayValue('2.0.0') as HTMLInputElement).name).toBe('min_native');
    expect(screen.getByTestId('version-hint').textContent).toMatch(/already serves 1.0.0/);
    const publish = screen.getByRole('button', { name: /^Publish 1.0.0 to production/ }) as HTMLButtonElement;
    expect(publish.disabled).toBe(true);
    fireEvent.change(screen.getByDisplayValue('1.0.0'), { target: { value: '1.0.1' } });
    expect(screen.getByTestId('version-hint').textContent).toMatch(/package.json.*serves 1.0.0/);
    expect((screen.getByRole('button', { name: /^Publish 1.0.1/ }) as HTMLButtonElement).disabled).toBe(false);
  });

  it('publishes a rollout and shows the checksum the server verified', async () => {
    const published: PublishForm[] = [];
    await renderForm('publisher', published);
    fireEvent.change(screen.getByDisplayValue('1.0.0'), { target: { value: '1.1.0' } });
    fireEvent.change(screen.getByDisplayValue('100'), { target: { value: '10' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: /^Publish 1.1.0/ })));
    expect(published).toEqual([
      {
        folder: '/app/dist',
        // What ships is the zip that was previewed, pinned by its checksum.
        previewed_zip: '/cache/preview.zip',
        previewed_sha256: preview.sha256,
        app: 'com.example.app',
        channel: 'production',
        version: '1.1.0',
        min_native: '2.0.0',
        rollout_percent: 10,
        notes: '',
      },
    ]);
    expect(screen.getByTestId('publish-result').textContent).toMatch(/Published 1.1.0 to production for 10 % of devices/);
    expect(screen.getByTestId('verified-sha256').textContent).toBe(preview.sha256);
    expect(screen.queryByTestId('signed-with')).toBeNull();
  });

  it('says which key signed the bundle when the app signs its bundles', async () => {
    await renderForm('publisher', [], 'MIIBCgKCAQEAsigned00');
    fireEvent.change(screen.getByDisplayValue('1.0.0'), { target: { value: '1.1.0' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: /^Publish 1.1.0/ })));
    expect(screen.getByTestId('signed-with').textContent).toMatch(
      /Signed with key MIIBCgKCAQEAsigned00; the server’s copy was downloaded and opened as a device opens it/,
    );
  });

  it('disables publishing for roles that cannot, and says why', async () => {
    await renderForm('viewer');
    expect(screen.getByTestId('publish-denied').textContent).toMatch(/role \(viewer\) cannot publish/);
    fireEvent.change(screen.getByDisplayValue('1.0.0'), { target: { value: '1.0.1' } });
    expect((screen.getByRole('button', { name: /^Publish 1.0.1/ }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('knows which bundle a channel serves newest', () => {
    expect(newestServed(undefined)).toBeNull();
    expect(newestServed({ name: 'p', target: 'builtin', rollout_version: null, rollout_percent: null })).toBeNull();
    expect(newestServed({ name: 'p', target: '1.0.0', rollout_version: '1.2.0', rollout_percent: 5 })).toBe('1.2.0');
  });
});
