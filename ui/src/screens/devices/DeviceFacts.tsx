import type { DeviceDetail } from '../../bindings/DeviceDetail';
import { formatAgo, formatTime } from '../../lib/format';
import { overrideSource } from './override';

function bundleWords(version: string): string {
  return version === 'builtin' ? 'the store build (builtin)' : version;
}

/** What the server knows about a device, and the channel it is on. */
export function DeviceFacts({ detail }: { detail: DeviceDetail }) {
  const { device, override } = detail;
  return (
    <section className="card" aria-labelledby="device-facts-title">
      <h2 id="device-facts-title">What the server knows</h2>
      {!device && (
        <p className="notice devices-never-seen">
          This device has never checked in with the server. It only has a channel override, which applies from its
          first update check.
        </p>
      )}
      <dl className="facts">
        <div className="wide">
          <dt>Channel</dt>
          <dd data-testid="device-channel">
            {override ? (
              <>
                <strong>{override.channel ?? 'a channel that was deleted'}</strong>{' '}
                <span className="badge devices-override-badge">override</span>{' '}
                <span className="hint">
                  {overrideSource(override.source)} ·{' '}
                  <span title={formatAgo(override.set_at_ms)}>{formatTime(override.set_at_ms)}</span>
                </span>
              </>
            ) : device?.channel ? (
              <>
                <strong>{device.channel}</strong> <span className="hint">at its last update check</span>
              </>
            ) : (
              <span className="muted">none yet</span>
            )}
          </dd>
          {override && device?.channel && device.channel !== override.channel && (
            <dd className="hint" data-testid="device-channel-pending">
              At its last update check it got {device.channel}; the override applies from its next check.
            </dd>
          )}
        </div>
        {device && (
          <>
            <div>
              <dt>Current bundle</dt>
              <dd className="mono" data-testid="device-bundle">
                {bundleWords(device.bundle_version)}
              </dd>
            </div>
            <div>
              <dt>Custom id</dt>
              <dd>{device.custom_id || <span className="muted">not set</span>}</dd>
            </div>
            <div>
              <dt>Platform</dt>
              <dd data-testid="device-platform">{device.platform}</dd>
            </div>
            <div>
              <dt>OS version</dt>
              <dd>{device.os_version || <span className="muted">unknown</span>}</dd>
            </div>
            <div>
              <dt>Native version</dt>
              <dd data-testid="device-native-version">{device.native_version}</dd>
            </div>
            <div>
              <dt>Plugin version</dt>
              <dd>{device.plugin_version || <span className="muted">unknown</span>}</dd>
            </div>
            <div>
              <dt>Trusts key</dt>
              <dd className="mono" data-testid="device-key-id">
                {device.key_id || <span className="muted">none: takes unsigned bundles only</span>}
              </dd>
            </div>
            <div>
              <dt>Build</dt>
              <dd>{device.is_prod ? 'Production build' : 'Development build'}</dd>
            </div>
            <div>
              <dt>Hardware</dt>
              <dd>{device.is_emulator ? 'Emulator' : 'Physical device'}</dd>
            </div>
            <div>
              <dt>First seen</dt>
              <dd title={formatAgo(device.first_seen_ms)}>{formatTime(device.first_seen_ms)}</dd>
            </div>
            <div>
              <dt>Last seen</dt>
              <dd>
                <span title={formatTime(device.last_seen_ms)}>{formatAgo(device.last_seen_ms)}</span>{' '}
                <span className="hint">({formatTime(device.last_seen_ms)})</span>
              </dd>
            </div>
          </>
        )}
      </dl>
    </section>
  );
}
