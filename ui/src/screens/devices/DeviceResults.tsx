import { useEffect, useRef } from 'react';
import type { DeviceFilter } from '../../bindings/DeviceFilter';
import type { DeviceRecord } from '../../bindings/DeviceRecord';
import type { UiError } from '../../bindings/UiError';
import { ErrorBanner } from '../../components/ErrorBanner';
import { formatAgo, formatTime } from '../../lib/format';
import { couldBeDeviceId, describeSearch, SEARCH_LIMIT } from './search';

export type SearchState =
  | { kind: 'loading'; filter: DeviceFilter }
  | { kind: 'done'; filter: DeviceFilter; results: DeviceRecord[] }
  | { kind: 'failed'; filter: DeviceFilter; error: UiError };

interface Props {
  state: SearchState;
  onOpen: (deviceId: string) => void;
  onRetry: () => void;
  /** The device whose page was open last: its row gets the focus back. */
  returnTo: string | null;
}

/** Search results: one row per device, each opening the device page (click, or Enter on its button). */
export function DeviceResults({ state, onOpen, onRetry, returnTo }: Props) {
  if (state.kind === 'loading') {
    return (
      <p className="muted" role="status">
        Loading…
      </p>
    );
  }
  if (state.kind === 'failed') {
    return <ErrorBanner error={state.error} onRetry={onRetry} />;
  }

  const searched = describeSearch(state.filter);
  const q = state.filter.q;
  if (state.results.length === 0) {
    return (
      <div className="notice devices-empty" data-testid="device-no-results" role="status">
        <p>{searched ? `No device matched ${searched}.` : 'No device of this app has checked in yet.'}</p>
        {q && couldBeDeviceId(q) && (
          <p>
            A device that has not checked in yet can still be pinned to a channel.{' '}
            <button type="button" className="button secondary" onClick={() => onOpen(q.toLowerCase())}>
              Open device {q.toLowerCase()}
            </button>
          </p>
        )}
      </div>
    );
  }

  const n = state.results.length;
  return (
    <section className="card devices-results" aria-label="Devices found">
      <p className="devices-summary" role="status">
        {searched ? `${n} ${n === 1 ? 'device' : 'devices'} matching ${searched}` : 'Recently seen devices'}
        {n >= SEARCH_LIMIT && (
          <span className="hint"> · showing the {n} seen most recently; narrow the search to find others</span>
        )}
      </p>
      <table className="table devices-table" data-testid="device-results">
        <thead>
          <tr>
            <th scope="col">Device id</th>
            <th scope="col">Custom id</th>
            <th scope="col">Platform</th>
            <th scope="col">Native</th>
            <th scope="col">Bundle</th>
            <th scope="col">Channel</th>
            <th scope="col">Last seen</th>
          </tr>
        </thead>
        <tbody>
          {state.results.map((device) => (
            <ResultRow key={device.device_id} device={device} onOpen={onOpen} focus={device.device_id === returnTo} />
          ))}
        </tbody>
      </table>
    </section>
  );
}

function ResultRow({ device, onOpen, focus }: { device: DeviceRecord; onOpen: (id: string) => void; focus: boolean }) {
  const button = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (focus) button.current?.focus();
  }, [focus]);
  return (
    <tr className="device-row" data-device-id={device.device_id} onClick={() => onOpen(device.device_id)}>
      <td>
        <button
          type="button"
          ref={button}
          className="device-link mono"
          aria-label={`Open device ${device.device_id}`}
          onClick={(e) => {
            // The row handles clicks; the button is there for the keyboard.
            e.stopPropagation();
            onOpen(device.device_id);
          }}
        >
          {device.device_id}
        </button>
      </td>
      <td>{device.custom_id || <span className="muted">—</span>}</td>
      <td>{device.platform}</td>
      <td>{device.native_version}</td>
      <td className="mono">{device.bundle_version === 'builtin' ? 'store build' : device.bundle_version}</td>
      <td>{device.channel ?? <span className="muted">—</span>}</td>
      <td title={formatTime(device.last_seen_ms)}>{formatAgo(device.last_seen_ms)}</td>
    </tr>
  );
}
