import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { ErrorBanner } from '../../components/ErrorBanner';
import { useBackend } from '../../lib/backend/context';
import { useLoad } from '../../lib/useLoad';
import { adoptionOverTime, type Range, servedVersions, versionColor } from './chartData';
import {
  axisLine,
  axisTick,
  CHART_HEIGHT,
  gridStroke,
  INITIAL_DIMENSION,
  legendStyle,
  tooltipLabelStyle,
  tooltipStyle,
} from './chartStyle';

/**
 * Adoption of each bundle the channels serve now, over the range: installs so far per bundle,
 * one line each, named with the channels serving it.
 */
export function AdoptionTrend({ app, range, refresh }: { app: string; range: Range; refresh: number }) {
  const backend = useBackend();
  const loaded = useLoad(async () => {
    const served = servedVersions(await backend.listChannels(app));
    const timelines = await Promise.all(
      served.map(async (s) => ({ ...s, timeline: await backend.statsTimeline(app, range.bucket, range.days, s.version) })),
    );
    return { served, rows: adoptionOverTime(timelines, range.days, Date.now()) };
  }, `${app}|${range.id}|${refresh}`);

  if (loaded.error) return <ErrorBanner error={loaded.error} onRetry={loaded.reload} />;
  if (!loaded.data) return <p className="muted">Loading…</p>;
  const { served, rows } = loaded.data;
  const installed = rows.some((row) => served.some((s) => (row[s.version] as number) > 0));
  if (served.length === 0) return <p className="notice">No channel serves a bundle yet.</p>;
  if (!installed) return <p className="notice">No device installed a served bundle in the last {range.label}.</p>;
  return (
    <figure className="chart" data-testid="adoption-trend" aria-label="Installs of each served bundle over time">
      <ResponsiveContainer width="100%" height={CHART_HEIGHT} initialDimension={INITIAL_DIMENSION}>
        <LineChart data={rows} margin={{ top: 8, right: 16, bottom: 0, left: 0 }}>
          <CartesianGrid vertical={false} stroke={gridStroke} strokeDasharray="3 3" />
          <XAxis dataKey="label" tick={axisTick} axisLine={axisLine} tickLine={axisLine} minTickGap={24} />
          <YAxis allowDecimals={false} width={40} tick={axisTick} axisLine={false} tickLine={false} />
          <Tooltip contentStyle={tooltipStyle} labelStyle={tooltipLabelStyle} />
          <Legend wrapperStyle={legendStyle} />
          {served.map((s, i) => (
            <Line
              key={s.version}
              type="stepAfter"
              dataKey={s.version}
              name={`${s.version} (${s.channels.join(', ')})`}
              stroke={versionColor(s.version, i)}
              strokeWidth={2}
              dot={false}
              isAnimationActive={false}
            />
          ))}
        </LineChart>
      </ResponsiveContainer>
    </figure>
  );
}
