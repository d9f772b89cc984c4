import { useCallback, useState } from 'react';
import type { Channel } from '../../bindings/Channel';
import type { DeviceDetail } from '../../bindings/DeviceDetail';
import type { UiError } from '../../bindings/UiError';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { ErrorBanner } from '../../components/ErrorBanner';
import { FleetPreview } from '../../components/FleetPreview';
import { toUiError } from '../../lib/backend/backend';
import { useBackend } from '../../lib/backend/context';
import { deniedReason } from '../../lib/roles';
import { useSession } from '../../lib/session';
import { fallbackChannel, overrideSource, servesWords } from './override';

type Change =
  | { kind: 'idle' }
  | { kind: 'busy' }
  | { kind: 'done'; message: string }
  | { kind: 'failed'; error: UiError; retry: () => void };

interface Props {
  app: string;
  deviceId: string;
  detail: DeviceDetail;
  /** The app's channels; null while loading or after a failure (the screen shows that banner). */
  channels: Channel[] | null;
  /** Called after a change so the page shows what the server now has. */
  onChanged: () => void;
}

/** QA: pin the device to a channel, move it, or let it go back to its own channel. */
export function OverridePanel({ app, deviceId, detail, channels, onChanged }: Props) {
  const backend = useBackend();
  const session = useSession();
  const current = detail.override;
  const [choice, setChoice] = useState(current?.channel ?? '');
  const [change, setChange] = useState<Change>({ kind: 'idle' });
  const [confirming, setConfirming] = useState(false);
  // Stable, so the dialog does not re-run its focus effect on every render.
  const cancelConfirm = useCallback(() => setConfirming(false), []);

  const denied = session ? deniedReason(session.role, 'set_override') : 'Connect to a server to change device channels.';
  const busy = change.kind === 'busy';
  const unchanged = !!current && current.channel === choice;

  async function setOverride(channel: string) {
    setChange({ kind: 'busy' });
    try {
      await backend.setDeviceOverride(app, deviceId, channel);
      setChange({
        kind: 'done',
        message: `Device ${deviceId} is now pinned to ${channel}. It gets what ${channel} serves at its next update check.`,
      });
      onChanged();
    } catch (e) {
      setChange({ kind: 'failed', error: toUiError(e), retry: () => void setOverride(channel) });
    }
  }

  async function clearOverride() {
    setChange({ kind: 'busy' });
    try {
      const removed = await backend.clearDeviceOverride(app, deviceId);
      setConfirming(false);
      setChange({
        kind: 'done',
        message: removed
          ? `Override cleared: device ${deviceId} goes back to its own channel at its next update check.`
          : `Device ${deviceId} had no override any more; nothing changed.`,
      });
      onChanged();
    } catch (e) {
      setConfirming(false);
      setChange({ kind: 'failed', error: toUiError(e), retry: () => void clearOverride() });
    }
  }

  // A pinned channel missing from the list (deleted, or the list failed) still shows as chosen.
  const options = channels ?? [];
  const orphan = choice && !options.some((c) => c.name === choice) ? choice : null;

  return (
    <section className="card devices-override" aria-labelledby="device-override-title">
      <h2 id="device-override-title">Channel override</h2>
      <p className="hint devices-override-help">
        {current
          ? `Pinned to ${current.channel ?? 'a channel that was deleted'} (${overrideSource(current.source)}). An override wins over the channel the device would choose itself.`
          : 'Pin this device to a channel to test a bundle on it. An override wins over the channel the device would choose itself.'}
      </p>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          if (!denied && !busy && choice && !unchanged) void setOverride(choice);
        }}
      >
        <label className="field grow">
          <span>Pin to channel</span>
          <select
            name="override-channel"
            value={choice}
            onChange={(e) => setChoice(e.target.value)}
            disabled={!!denied || busy || channels === null}
            aria-describedby={denied ? 'override-denied' : undefined}
          >
            {channels === null ? (
              <option value={choice}>{choice || 'Loading…'}</option>
            ) : (
              <>
                {!current && <option value="">Choose a channel…</option>}
                {orphan && <option value={orphan}>{orphan}</option>}
                {options.map((c) => (
                  <option key={c.id} value={c.name}>
                    {c.name} — {servesWords(c)}
                  </option>
                ))}
              </>
            )}
          </select>
        </label>
        <button
          type="submit"
          className="button"
          disabled={!!denied || busy || !choice || unchanged}
          title={unchanged ? `Already pinned to ${choice}` : undefined}
        >
          {current ? 'Change override' : 'Set override'}
        </button>
        {current && (
          <button
            type="button"
            className="button danger"
            disabled={!!denied || busy}
            onClick={() => setConfirming(true)}
          >
            Clear override
          </button>
        )}
      </form>
      {denied && (
        <p className="denied" id="override-denied" data-testid="override-denied">
          {denied}
        </p>
      )}
      {busy && !confirming && (
        <p className="muted" role="status">
          Saving…
        </p>
      )}
      {change.kind === 'done' && (
        <p className="devices-ok" role="status" data-testid="override-status">
          {change.message}
        </p>
      )}
      {change.kind === 'failed' && <ErrorBanner error={change.error} onRetry={change.retry} />}

      {confirming && current && (
        <ConfirmDialog
          title="Clear this device's override?"
          confirmLabel="Clear override"
          danger
          busy={busy}
          onConfirm={() => void clearOverride()}
          onCancel={cancelConfirm}
        >
          <p>
            Device <span className="mono">{deviceId}</span> will go back to the channel it would get by itself (
            {fallbackChannel(channels, detail.device?.platform ?? null)}).
          </p>
          <p>
            It is pinned to {current.channel ?? 'a channel that was deleted'} now ({overrideSource(current.source)}).
            {current.source === 'device' && ' The device may choose that channel again with setChannel.'} The change
            applies at its next update check.
          </p>
          <FleetPreview app={app} change={{ kind: 'clear_override', device_id: deviceId }} />
        </ConfirmDialog>
      )}
    </section>
  );
}
