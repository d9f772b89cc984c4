import type { HistoryEntry } from '../../bindings/HistoryEntry';
import { ErrorBanner } from '../../components/ErrorBanner';
import { useBackend } from '../../lib/backend/context';
import { formatTime } from '../../lib/format';
import { useLoad } from '../../lib/useLoad';
import { historySentence } from './channelText';

/** Every change of one channel, newest first; loaded when shown. */
export function ChannelHistory({ app, channel, revision }: { app: string; channel: string; revision: number }) {
  const backend = useBackend();
  const history = useLoad<HistoryEntry[]>(() => backend.channelHistory(app, channel), `${app}/${channel}/${revision}`);
  if (history.error) return <ErrorBanner error={history.error} onRetry={history.reload} />;
  if (!history.data) return <p className="muted">Loading…</p>;
  if (history.data.length === 0) return <p className="muted">No changes yet.</p>;
  return (
    <ol className="history" data-testid={`history-${channel}`}>
      {history.data.map((entry) => (
        <li key={entry.id} data-action={entry.action}>
          <span>{historySentence(entry)}</span>
          {entry.reason && (
            <span className="reason" data-testid="history-reason">
              {entry.reason}
            </span>
          )}
          <span className="muted">
            {entry.actor} · {formatTime(entry.at_ms)}
          </span>
        </li>
      ))}
    </ol>
  );
}
