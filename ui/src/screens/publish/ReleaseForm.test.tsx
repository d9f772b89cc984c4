import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { BundlePreview } from '../../bindings/BundlePreview';
import type { DeltaSize } from '../../bindings/DeltaSize';
import type { NativeView } from '../../bindings/NativeView';
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

/** A project whose native side is unchanged since what production's shells run. */
const unchanged: NativeView = {
  project: '/app',
  stops: false,
  sentence: 'native surface unchanged since 1.0.0',
  changes: [],
  suggested_min_native: null,
  suggested_source: null,
};

type Options = {
  checks?: string[];
  native?: (minNative: string) => NativeView;
  signedWith?: string | null;
  delta?: DeltaSize | null;
};

function backend(
  published: PublishForm[],
  { checks = [], native = () => unchanged, signedWith = null, delta = null }: Options = {},
): Backend {
  return {
    ...unusedBackend,
    checkNative: async (app, channel, folder, version, minNative) => {
      checks.push(`${app} ${channel} ${folder} ${version} ${minNative}`);
      return native(minNative);
    },
    listAppChannels: async () => [
      {
        app: 'com.example.app',
        name: 'Example',
        channels: [
          { name: 'beta', lanes: [] },
          { name: 'production', lanes: [{ min_native: '2.0.0', target: '1.0.0', rollout: null }] },
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
        delta,
      };
    },
  };
}

async function renderForm(role: string, published: PublishForm[] = [], custom?: Backend) {
  await act(async () => {
    render(
      <BackendProvider backend={custom ?? backend(published)}>
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
    expect(screen.queryByTestId('publish-delta')).toBeNull();
  });

  it('shows what a device on the previous bundle downloads with a delta update', async () => {
    const delta = { from_version: '1.0.0', download_bytes: 300 };
    await renderForm('publisher', [], backend([], { delta }));
    fireEvent.change(screen.getByDisplayValue('1.0.0'), { target: { value: '1.1.0' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: /^Publish 1.1.0/ })));
    expect(screen.getByTestId('publish-delta').textContent).toBe(
      'A device on 1.0.0 downloads 300 B instead of 2.0 kB: only the files that changed.',
    );
  });

  it('says which key signed the bundle when the app signs its bundles', async () => {
    await renderForm('publisher', [], backend([], { signedWith: 'MIIBCgKCAQEAsigned00' }));
    fireEvent.change(screen.getByDisplayValue('1.0.0'), { target: { value: '1.1.0' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: /^Publish 1.1.0/ })));
    expect(screen.getByTestId('signed-with').textContent).toMatch(
      /Signed with key MIIBCgKCAQEAsigned00; the server’s copy was downloaded and opened as a device opens it/,
    );
  });

  it('stops on a native change until MIN_NATIVE_VERSION is raised, in one click', async () => {
    const checks: string[] = [];
    const changed = (minNative: string): NativeView =>
      minNative === '2.1.0'
        ? { ...unchanged, sentence: 'native surface changed since 1.0.0 (@capacitor/camera 6.0.1 → 6.1.0); MIN_NATIVE_VERSION was raised above it', changes: ['@capacitor/camera 6.0.1 → 6.1.0'] }
        : {
            project: '/app',
            stops: true,
            sentence: 'native surface changed since 1.0.0: @capacitor/camera 6.0.1 → 6.1.0; raise MIN_NATIVE_VERSION above 2.0.0',
            changes: ['@capacitor/camera 6.0.1 → 6.1.0'],
            suggested_min_native: '2.1.0',
            suggested_source: 'file /app/android/app/build.gradle',
          };
    await renderForm('publisher', [], backend([], { checks, native: changed }));
    fireEvent.change(screen.getByDisplayValue('1.0.0'), { target: { value: '1.1.0' } });
    await act(async () => {});
    const warning = screen.getByTestId('native-check');
    expect(warning.textContent).toContain('@capacitor/camera 6.0.1 → 6.1.0');
    expect((screen.getByRole('button', { name: /^Publish 1.1.0/ }) as HTMLButtonElement).disabled).toBe(true);
    await act(async () => fireEvent.click(within(warning).getByRole('button', { name: 'Raise MIN_NATIVE_VERSION to 2.1.0' })));
    expect((screen.getByDisplayValue('2.1.0') as HTMLInputElement).name).toBe('min_native');
    expect(checks.at(-1)).toBe('com.example.app production /app/dist 1.1.0 2.1.0');
    expect(screen.getByTestId('native-check').textContent).toMatch(/raised above it/);
    expect((screen.getByRole('button', { name: /^Publish 1.1.0/ }) as HTMLButtonElement).disabled).toBe(false);
  });

  it('disables publishing for roles that cannot, and says why', async () => {
    await renderForm('viewer');
    expect(screen.getByTestId('publish-denied').textContent).toMatch(/role \(viewer\) cannot publish/);
    fireEvent.change(screen.getByDisplayValue('1.0.0'), { target: { value: '1.0.1' } });
    expect((screen.getByRole('button', { name: /^Publish 1.0.1/ }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('knows which bundle a channel serves newest on the line a bundle goes to', () => {
    const rollout = (version: string) => ({ version, share_bp: 500, started_at_ms: 0 });
    const two = { min_native: '2.0.0', target: '2.0.0', rollout: rollout('2.1.0') };
    const one = { min_native: '1.0.0', target: '1.4.0', rollout: null };
    const channel = { name: 'p', lanes: [two, one] };
    expect(newestServed(undefined, '')).toBeNull();
    expect(newestServed({ name: 'p', lanes: [{ min_native: null, target: 'builtin', rollout: null }] }, '')).toBeNull();
    expect(newestServed(channel, '2')).toBe('2.1.0');
    expect(newestServed(channel, '1.0')).toBe('1.4.0');
    expect(newestServed(channel, '3.0.0')).toBeNull();
    expect(newestServed(channel, ''), 'without a MIN_NATIVE_VERSION: the newest line').toBe('2.1.0');
  });
});
