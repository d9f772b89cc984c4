import { useMemo } from 'react';
import { ErrorBanner } from '../../components/ErrorBanner';
import { useBackend } from '../../lib/backend/context';
import { useLoad } from '../../lib/useLoad';
import { AdoptionTrend } from './AdoptionTrend';
import { RANGES, summarize, timelineRows, type Range, type RangeId, type TimelineSummary } from './chartData';
import { FailuresChart, InstallsChart } from './TimelineCharts';

interface Props {
  app: string;
  range: Range;
  onRange: (id: RangeId) => void;
  refresh: number;
}

/** Device events over the chosen range: totals, installs over time, failures by action. */
export function ActivitySection({ app, range, onRange, refresh }: Props) {
  const backend = useBackend();
  const loaded = useLoad(
    () => backend.statsTimeline(app, range.bucket, range.days).then((timeline) => ({ timeline, range, now: Date.now() })),
    `${app}|${range.id}|${refresh}`,
  );
  const shaped = useMemo(() => {
    if (!loaded.data) return null;
    // The range the data was asked for: while another range loads, labels stay true to the data.
    const { timeline, range: shown, now } = loaded.data;
    return {
      chart: timelineRows(timeline, shown.days, now),
      summary: summarize(timeline),
      empty: timeline.buckets.length === 0,
      range: shown,
    };
  }, [loaded.data]);

  return (
    <section className="card stats-section" aria-labelledby="activity-heading">
      <div className="stats-section-head">
        <h2 id="activity-heading">Device events</h2>
        <RangePicker value={range.id} onChange={onRange} />
      </div>
      {loaded.error && <ErrorBanner error={loaded.error} onRetry={loaded.reload} />}
      {loaded.loading && !loaded.data && !loaded.error && <p className="muted">Loading…</p>}
      {shaped && shaped.empty && <p className="notice">No device events in the last {shaped.range.label}.</p>}
      {shaped && !shaped.empty && (
        <>
          <Summary summary={shaped.summary} range={shaped.range} />
          <h3>Installs</h3>
          {shaped.summary.installs > 0 ? (
            <InstallsChart rows={shaped.chart.rows} />
          ) : (
            <p className="notice">No installs in the last {shaped.range.label}.</p>
          )}
          <h3>Adoption of each served bundle</h3>
          <AdoptionTrend app={app} range={shaped.range} refresh={refresh} />
          <h3>Failures and rollbacks</h3>
          {shaped.chart.failureActions.length > 0 ? (
            <>
              <FailuresChart rows={shaped.chart.rows} actions={shaped.chart.failureActions} />
              <p className="hint">↩ marks rollbacks: an update that failed and was undone, or a reset to the store build.</p>
            </>
          ) : (
            <p className="notice">No failures or rollbacks in the last {shaped.range.label}.</p>
          )}
        </>
      )}
    </section>
  );
}

function RangePicker({ value, onChange }: { value: RangeId; onChange: (id: RangeId) => void }) {
  return (
    <div className="segmented" role="group" aria-label="Range">
      {RANGES.map((r) => (
        <button
          key={r.id}
          type="button"
          className={r.id === value ? 'segment active' : 'segment'}
          aria-pressed={r.id === value}
          onClick={() => onChange(r.id)}
        >
          {r.label}
        </button>
      ))}
    </div>
  );
}

function Summary({ summary, range }: { summary: TimelineSummary; range: Range }) {
  return (
    <dl className="stats-summary" aria-label={`Totals over the last ${range.label}`} data-testid="stats-summary">
      <div>
        <dt>Installs</dt>
        <dd data-testid="summary-installs">{summary.installs}</dd>
      </div>
      <div className={summary.failures > 0 ? 'bad' : undefined}>
        <dt>Failures</dt>
        <dd data-testid="summary-failures">{summary.failures}</dd>
      </div>
      <div className={summary.rollbacks > 0 ? 'bad' : undefined}>
        <dt>Rollbacks</dt>
        <dd data-testid="summary-rollbacks">{summary.rollbacks}</dd>
      </div>
    </dl>
  );
}
