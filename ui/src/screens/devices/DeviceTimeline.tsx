import type { DeviceEvent } from '../../bindings/DeviceEvent';
import { formatTime } from '../../lib/format';
import { describeEvent, newestFirst, prettyMetadata } from './timeline';

/** Device clocks drift; past this the device's own time is worth a mention. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;

/** What the device reported, newest first, in words; failures marked. */
export function DeviceTimeline({ events }: { events: DeviceEvent[] }) {
  return (
    <section className="card" aria-labelledby="device-timeline-title" data-testid="device-timeline">
      <h2 id="device-timeline-title">Timeline</h2>
      {events.length === 0 ? (
        <p className="notice">
          No events from this device yet.
        </p>
      ) : (
        <>
          <p className="hint devices-timeline-note">Newest first. Times are when the server received each event.</p>
          <ol className="devices-timeline" aria-label="Events, newest first">
            {newestFirst(events).map((event, i) => (
              <TimelineItem key={`${event.received_ms}-${i}`} event={event} />
            ))}
          </ol>
        </>
      )}
    </section>
  );
}

function TimelineItem({ event }: { event: DeviceEvent }) {
  const described = describeEvent(event);
  const metadata = prettyMetadata(event.metadata);
  const skewed =
    event.device_ts_ms !== null && Math.abs(event.device_ts_ms - event.received_ms) > CLOCK_SKEW_MS
      ? event.device_ts_ms
      : null;
  const clockTitle =
    event.device_ts_ms !== null
      ? `Received ${formatTime(event.received_ms)}; device clock said ${formatTime(event.device_ts_ms)}`
      : `Received ${formatTime(event.received_ms)}`;
  return (
    <li className={`devices-event tone-${described.tone}`} data-action={event.action}>
      <div className="devices-event-head">
        <span className="devices-event-words">
          {described.tone === 'failure' && <span className="visually-hidden">Failure: </span>}
          {described.words}
        </span>
        <time dateTime={new Date(event.received_ms).toISOString()} title={clockTitle} className="muted">
          {formatTime(event.received_ms)}
        </time>
      </div>
      <div className="devices-event-meta hint">
        {described.version && (
          <span>
            bundle <span className="mono">{described.version}</span>
          </span>
        )}
        {event.action === 'set' && event.old_version_name && (
          <span>
            from <span className="mono">{event.old_version_name}</span>
          </span>
        )}
        {described.file && (
          <span>
            file <span className="mono">{described.file}</span>
          </span>
        )}
        {event.native_version && <span>native {event.native_version}</span>}
        {skewed !== null && <span>device clock {formatTime(skewed)}</span>}
        {described.words !== event.action && <span className="mono devices-event-action">{event.action}</span>}
      </div>
      {metadata && (
        <details className="devices-event-details">
          <summary>Details</summary>
          <pre className="mono">{metadata}</pre>
        </details>
      )}
    </li>
  );
}
