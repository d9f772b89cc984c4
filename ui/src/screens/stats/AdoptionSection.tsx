import { ReleaseHealthList } from '../../components/ReleaseHealthList';
import { useMemo } from 'react';
import type { ChannelAdoption } from '../../bindings/ChannelAdoption';
import { ErrorBanner } from '../../components/ErrorBanner';
import { useBackend } from '../../lib/backend/context';
import { formatShare } from '../../lib/format';
import { useLoad } from '../../lib/useLoad';
import { AdoptionChart } from './AdoptionChart';
import { adoptionRows, formatAdoption } from './chartData';

/** Adoption per channel: how many active devices run what the channel serves. */
export function AdoptionSection({ app, refresh }: { app: string; refresh: number }) {
  const backend = useBackend();
  const loaded = useLoad(() => backend.channelAdoption(app), `${app}|${refresh}`);
  const chart = useMemo(() => (loaded.data ? adoptionRows(loaded.data) : null), [loaded.data]);
  return (
    <section className="card stats-section" aria-labelledby="adoption-heading">
      <h2 id="adoption-heading">Adoption per channel</h2>
      {loaded.error && <ErrorBanner error={loaded.error} onRetry={loaded.reload} />}
      {loaded.loading && !loaded.data && !loaded.error && <p className="muted">Loading…</p>}
      {loaded.data && loaded.data.length === 0 && <p className="notice">No channels yet: publish a bundle to create one.</p>}
      {loaded.data && loaded.data.length > 0 && (
        <>
          <ChannelFacts adoption={loaded.data} />
          {chart && chart.versions.length > 0 ? (
            <AdoptionChart data={chart} />
          ) : (
            <p className="notice">No device has reported on any channel in the last 30 days.</p>
          )}
        </>
      )}
    </section>
  );
}

function targetText(c: ChannelAdoption): string {
  const targets = c.lanes.map((l) => (l.target === null ? 'nothing yet' : l.target === 'builtin' ? 'store build' : l.target));
  return targets.length === 0 ? 'nothing yet' : targets.join(' / ');
}

/** Per channel: what it serves, active devices and the share on the target. */
function ChannelFacts({ adoption }: { adoption: ChannelAdoption[] }) {
  return (
    <ul className="adoption-facts" aria-label="Channels">
      {adoption.map((c) => (
        <li key={c.channel} data-channel={c.channel}>
          <div className="adoption-name">
            <strong>{c.channel}</strong>
            <span className="muted"> serves {targetText(c)}</span>
            {c.lanes
              .filter((l) => l.rollout)
              .map((l) => (
                <span key={l.rollout!.version} className="tag rollout">
                  rolling out {l.rollout!.version} to {formatShare(l.rollout!.share_bp)}
                </span>
              ))}
          </div>
          <div className="adoption-numbers">
            <span className="adoption-percent" data-testid={`adoption-${c.channel}`}>
              {c.active_devices > 0 ? formatAdoption(c.adoption) : '—'}
            </span>
            <span className="muted">
              {' '}
              on target · {c.on_target} of {c.active_devices} active device{c.active_devices === 1 ? '' : 's'}
            </span>
          </div>
          <div className="adoption-meter" aria-hidden="true">
            <div style={{ width: `${Math.round(Math.min(1, Math.max(0, c.adoption)) * 100)}%` }} />
          </div>
          <ReleaseHealthList health={c.health} testId={`health-${c.channel}`} />
        </li>
      ))}
    </ul>
  );
}
