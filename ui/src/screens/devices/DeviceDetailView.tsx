import { useEffect, useRef } from 'react';
import type { Channel } from '../../bindings/Channel';
import { ErrorBanner } from '../../components/ErrorBanner';
import { useBackend } from '../../lib/backend/context';
import { useLoad } from '../../lib/useLoad';
import { DeviceFacts } from './DeviceFacts';
import { DeviceTimeline } from './DeviceTimeline';
import { OverridePanel } from './OverridePanel';

interface Props {
  app: string;
  deviceId: string;
  channels: Channel[] | null;
  onBack: () => void;
}

/** One device: what the server knows, its channel override and what it reported. */
export function DeviceDetailView({ app, deviceId, channels, onBack }: Props) {
  const backend = useBackend();
  const detail = useLoad(() => backend.deviceDetail(app, deviceId), `${app}\n${deviceId}`);
  const heading = useRef<HTMLHeadingElement>(null);
  // Keyboard and screen-reader users land on the page they opened.
  useEffect(() => heading.current?.focus(), []);

  const customId = detail.data?.device?.custom_id;
  return (
    <section className="devices-detail" data-testid="device-detail" aria-labelledby="device-detail-title">
      <div className="toolbar">
        <button type="button" className="button secondary" onClick={onBack}>
          Back to results
        </button>
        {detail.loading && detail.data && (
          <span className="muted" role="status">
            Loading…
          </span>
        )}
      </div>
      <header className="devices-detail-head">
        <h2 id="device-detail-title" ref={heading} tabIndex={-1}>
          Device <span className="mono" data-testid="device-id">{deviceId}</span>
        </h2>
        {customId && <p className="muted">Custom id {customId}</p>}
      </header>

      {detail.error && <ErrorBanner error={detail.error} onRetry={detail.reload} />}
      {!detail.data && detail.loading && (
        <p className="muted" role="status">
          Loading…
        </p>
      )}
      {detail.data && (
        <>
          <DeviceFacts detail={detail.data} />
          <OverridePanel
            app={app}
            deviceId={deviceId}
            detail={detail.data}
            channels={channels}
            onChanged={detail.reload}
          />
          <DeviceTimeline events={detail.data.events} />
        </>
      )}
    </section>
  );
}
