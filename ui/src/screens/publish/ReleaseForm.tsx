import { useEffect, useMemo, useState, type FormEvent } from 'react';
import type { AppChannels } from '../../bindings/AppChannels';
import type { Bundle } from '../../bindings/Bundle';
import type { BundlePreview } from '../../bindings/BundlePreview';
import type { ChannelSummary } from '../../bindings/ChannelSummary';
import type { ProgressEvent } from '../../bindings/ProgressEvent';
import type { PublishDefaults } from '../../bindings/PublishDefaults';
import type { PublishResult } from '../../bindings/PublishResult';
import type { UiError } from '../../bindings/UiError';
import { ErrorBanner } from '../../components/ErrorBanner';
import { ProgressBar } from '../../components/ProgressBar';
import { toUiError } from '../../lib/backend/backend';
import { useBackend } from '../../lib/backend/context';
import { formatBytes } from '../../lib/format';
import { deniedReason } from '../../lib/roles';
import { laneOf, lineKey, newestOnLine } from '../../lib/lanes';
import { versionProblem } from '../../lib/semver';
import { useCurrentApp } from '../../lib/app';
import { useSession } from '../../lib/session';
import { NativeCheck, type NativeState } from './NativeCheck';
import { keptMinNativeHint, sizeJumpWarning } from './servedBundle';

/** What each stage of a publish is called on its progress bar. */
const STAGE_LABELS: Record<string, string> = {
  packing: 'Packing',
  encrypting: 'Encrypting',
  uploading: 'Uploading',
  verifying: 'Opening the server’s copy as a device would',
};

/**
 * The newest bundle the channel serves on the native line a new bundle goes to (its
 * MIN_NATIVE_VERSION; without one, the channel's newest line), which the new version must exceed.
 */
export function newestServed(channel: ChannelSummary | undefined, minNative: string): string | null {
  if (!channel) return null;
  const key = lineKey(minNative);
  return newestOnLine(key === null ? channel.lanes[0] : laneOf(channel.lanes, key));
}

type Publishing =
  | { kind: 'editing' }
  | { kind: 'running'; operationId: string; event: ProgressEvent | null }
  | { kind: 'done'; result: PublishResult }
  | { kind: 'failed'; error: UiError };

/** Version, channel, MIN_NATIVE_VERSION, notes and rollout for a previewed bundle; then publish. */
export function ReleaseForm({ preview }: { preview: BundlePreview }) {
  const backend = useBackend();
  const session = useSession();
  const currentApp = useCurrentApp();
  const [apps, setApps] = useState<AppChannels[]>([]);
  const [defaults, setDefaults] = useState<PublishDefaults | null>(null);
  const [loadError, setLoadError] = useState<UiError | null>(null);
  const [form, setForm] = useState({ app: '', channel: '', version: '', minNative: '', notes: '', rollout: '100' });
  const [publishing, setPublishing] = useState<Publishing>({ kind: 'editing' });
  const [bundles, setBundles] = useState<Bundle[]>([]);
  const [native, setNative] = useState<NativeState | null>(null);

  // The app's bundles: what the channel serves now, to compare sizes and name the kept
  // MIN_NATIVE_VERSION. Only advice, so a failure just leaves it out.
  useEffect(() => {
    if (!form.app) return;
    backend.listBundles(form.app).then(setBundles, () => setBundles([]));
  }, [backend, form.app]);

  // The native check follows what would be published: app, channel, version, MIN_NATIVE_VERSION.
  useEffect(() => {
    if (!form.app || !form.channel || !form.version.trim()) {
      setNative(null);
      return;
    }
    let current = true;
    setNative({ kind: 'checking' });
    backend.checkNative(form.app, form.channel, preview.folder, form.version.trim(), form.minNative.trim()).then(
      (view) => current && setNative({ kind: 'done', view }),
      (e) => current && setNative({ kind: 'failed', error: toUiError(e) }),
    );
    return () => {
      current = false;
    };
  }, [backend, form.app, form.channel, form.version, form.minNative, preview.folder]);

  useEffect(() => {
    if (!session) return;
    Promise.all([backend.listAppChannels(), backend.publishDefaults(preview.folder)]).then(
      ([loadedApps, loadedDefaults]) => {
        setApps(loadedApps);
        setDefaults(loadedDefaults);
        // The app picked in the sidebar, so Publish works on the app every other screen shows.
        const app = loadedApps.find((a) => a.app === (currentApp ?? session.app)) ?? loadedApps[0];
        setForm((f) => ({
          ...f,
          app: app?.app ?? '',
          channel: app?.channels.find((c) => c.name === 'production')?.name ?? app?.channels[0]?.name ?? '',
          version: loadedDefaults.version ?? '',
          minNative: loadedDefaults.min_native ?? '',
        }));
      },
      (e) => setLoadError(toUiError(e)),
    );
    // Only on first load: later sidebar changes must not overwrite what the user chose here.
  }, [backend, session, preview.folder]);

  useEffect(() => {
    if (publishing.kind !== 'running') return;
    let stop: (() => void) | undefined;
    let disposed = false;
    backend
      .onProgress((event) => {
        setPublishing((p) => (p.kind === 'running' && p.operationId === event.operation_id ? { ...p, event } : p));
      })
      .then((s) => (disposed ? s() : (stop = s)));
    return () => {
      disposed = true;
      stop?.();
    };
  }, [backend, publishing.kind]);

  const app = apps.find((a) => a.app === form.app);
  const channel = app?.channels.find((c) => c.name === form.channel);
  const current = newestServed(channel, form.minNative);
  const served = bundles.find((b) => b.version === current);
  const sizeJump = sizeJumpWarning(preview.zip_size, served);
  const problem = useMemo(() => (form.version ? versionProblem(form.version, current) : 'enter a version'), [form.version, current]);
  const rollout = Number(form.rollout);
  const rolloutProblem = Number.isFinite(rollout) && rollout > 0 && rollout <= 100 ? null : 'between 0 and 100 %';
  if (!session) return <p className="notice">Connect to a server to publish this bundle.</p>;
  if (loadError) return <ErrorBanner error={loadError} />;
  const denied = deniedReason(session.role, 'publish');

  async function submit(event: FormEvent) {
    event.preventDefault();
    const operationId = crypto.randomUUID();
    setPublishing({ kind: 'running', operationId, event: null });
    try {
      const result = await backend.publishBundle(operationId, {
        folder: preview.folder,
        previewed_zip: preview.zip_path,
        previewed_sha256: preview.sha256,
        app: form.app,
        channel: form.channel,
        version: form.version.trim(),
        min_native: form.minNative.trim(),
        rollout_percent: rollout,
        notes: form.notes,
      });
      setPublishing({ kind: 'done', result });
    } catch (e) {
      setPublishing({ kind: 'failed', error: toUiError(e) });
    }
  }

  if (publishing.kind === 'done') {
    const r = publishing.result;
    return (
      <section className="card success" data-testid="publish-result">
        <h2>
          Published {r.version} to {r.channel}
          {r.rollout_percent !== null ? ` for ${r.rollout_percent} % of devices` : ' for every device'}
        </h2>
        <p>
          {r.files} files, {formatBytes(r.size)}. The server verified SHA-256{' '}
          <span className="mono" data-testid="verified-sha256">{r.sha256}</span>.
        </p>
        {r.delta && (
          <p data-testid="publish-delta">
            A device on {r.delta.from_version} downloads {formatBytes(r.delta.download_bytes)} instead of{' '}
            {formatBytes(r.size)}: only the files that changed.
          </p>
        )}
        {r.signed_with && (
          <p data-testid="signed-with">
            Signed with key <span className="mono">{r.signed_with}</span>; the server’s copy was downloaded and opened
            as a device opens it.
          </p>
        )}
        <p className="muted">
          MIN_NATIVE_VERSION {r.min_native_version ?? 'not set'} ({r.min_native_source}).
        </p>
        <button className="button secondary" onClick={() => setPublishing({ kind: 'editing' })}>
          Publish another version
        </button>
      </section>
    );
  }

  const nativeStops = native?.kind === 'done' && native.view.stops;
  const set = (key: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [key]: e.target.value });
  const running = publishing.kind === 'running' ? publishing : null;
  return (
    <form className="card form-grid" onSubmit={submit} aria-label="Release">
      <h2 className="full">Release</h2>
      <label className="field">
        <span>App</span>
        <select name="app" value={form.app} onChange={(e) => setForm({ ...form, app: e.target.value, channel: '' })}>
          {apps.map((a) => (
            <option key={a.app} value={a.app}>
              {a.name} ({a.app})
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        <span>Channel</span>
        <select name="channel" value={form.channel} onChange={set('channel')}>
          <option value="" disabled>
            choose a channel
          </option>
          {app?.channels.map((c) => (
            <option key={c.name} value={c.name}>
              {c.name} {c.lanes.length > 0 ? `(serves ${c.lanes.map((l) => l.target ?? 'nothing').join(' / ')})` : '(empty)'}
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        <span>Version</span>
        <input name="version" value={form.version} onChange={set('version')} spellCheck={false} />
        <small className={problem ? 'hint bad' : 'hint'} data-testid="version-hint">
          {problem ?? `from ${defaults?.version_source ?? 'you'}; channel serves ${current ?? 'nothing yet'}`}
        </small>
      </label>
      <label className="field">
        <span>MIN_NATIVE_VERSION</span>
        <input name="min_native" value={form.minNative} onChange={set('minNative')} spellCheck={false} placeholder="keep the channel's" />
        <small className="hint" data-testid="min-native-hint">
          {defaults?.min_native ? defaults.min_native_source : keptMinNativeHint(served)}
        </small>
      </label>
      <label className="field">
        <span>Rollout (% of devices)</span>
        <input name="rollout" type="number" min={1} max={100} step="any" value={form.rollout} onChange={set('rollout')} />
        {rolloutProblem && <small className="hint bad">{rolloutProblem}</small>}
      </label>
      <label className="field full">
        <span>Release notes</span>
        <textarea name="notes" rows={2} value={form.notes} onChange={set('notes')} />
      </label>
      {native && (
        <NativeCheck state={native} onRaise={(version) => setForm({ ...form, minNative: version })} />
      )}
      {sizeJump && (
        <p className="warning full" data-testid="size-jump">
          {sizeJump}
        </p>
      )}
      {running && (
        <div className="full">
          <ProgressBar
            label={STAGE_LABELS[running.event?.stage ?? 'packing'] ?? 'Packing'}
            done={running.event?.done ?? 0}
            total={running.event?.total ?? 0}
            onCancel={() => void backend.cancelOperation(running.operationId)}
          />
        </div>
      )}
      {publishing.kind === 'failed' && publishing.error.code !== 'cancelled' && (
        <div className="full">
          <ErrorBanner error={publishing.error} />
        </div>
      )}
      <div className="actions full">
        {denied && <span className="hint bad" data-testid="publish-denied">{denied}</span>}
        <button
          type="submit"
          className="button"
          disabled={!!denied || !!problem || !!rolloutProblem || !form.channel || !!running || nativeStops}
          title={denied ?? problem ?? (nativeStops ? 'raise MIN_NATIVE_VERSION first: the native surface changed' : undefined)}
        >
          Publish {form.version || ''} to {form.channel || '…'}
        </button>
      </div>
    </form>
  );
}
