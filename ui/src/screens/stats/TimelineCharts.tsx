import {
  Area,
  AreaChart,
  Bar,
  BarChart,
  CartesianGrid,
  Legend,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import { actionColor, actionLabel, isRollback, type TimelineRow } from './chartData';
import {
  axisLine,
  axisTick,
  CHART_HEIGHT,
  cursorFill,
  gridStroke,
  INITIAL_DIMENSION,
  legendStyle,
  tooltipLabelStyle,
  tooltipStyle,
} from './chartStyle';

const MARGIN = { top: 8, right: 16, bottom: 0, left: 0 };

function Axes() {
  return [
    <CartesianGrid key="grid" vertical={false} stroke={gridStroke} strokeDasharray="3 3" />,
    <XAxis key="x" dataKey="label" tick={axisTick} axisLine={axisLine} tickLine={axisLine} minTickGap={24} />,
    <YAxis key="y" allowDecimals={false} width={40} tick={axisTick} axisLine={false} tickLine={false} />,
  ];
}

/** Installs (`set` events) per bucket as a filled line. */
export function InstallsChart({ rows }: { rows: TimelineRow[] }) {
  const color = actionColor('set');
  return (
    <figure className="chart" data-testid="installs-chart" aria-label="Installs over time">
      <ResponsiveContainer width="100%" height={CHART_HEIGHT} initialDimension={INITIAL_DIMENSION}>
        <AreaChart data={rows} margin={MARGIN}>
          {Axes()}
          <Tooltip contentStyle={tooltipStyle} labelStyle={tooltipLabelStyle} />
          <Legend wrapperStyle={legendStyle} />
          <Area
            type="monotone"
            dataKey="set"
            name={actionLabel('set')}
            stroke={color}
            strokeWidth={2}
            fill={color}
            fillOpacity={0.25}
            isAnimationActive={false}
          />
        </AreaChart>
      </ResponsiveContainer>
    </figure>
  );
}

/** Failures per bucket stacked by action; rollbacks (update_fail, reset) on top in reds. */
export function FailuresChart({ rows, actions }: { rows: TimelineRow[]; actions: string[] }) {
  return (
    <figure className="chart" data-testid="failures-chart" aria-label="Failures and rollbacks by action over time">
      <ResponsiveContainer width="100%" height={CHART_HEIGHT} initialDimension={INITIAL_DIMENSION}>
        <BarChart data={rows} margin={MARGIN}>
          {Axes()}
          <Tooltip contentStyle={tooltipStyle} labelStyle={tooltipLabelStyle} cursor={cursorFill} />
          <Legend wrapperStyle={legendStyle} />
          {actions.map((action) => (
            <Bar
              key={action}
              dataKey={action}
              name={isRollback(action) ? `↩ ${actionLabel(action)}` : actionLabel(action)}
              stackId="failures"
              fill={actionColor(action)}
              stroke={isRollback(action) ? actionColor(action) : undefined}
              isAnimationActive={false}
            />
          ))}
        </BarChart>
      </ResponsiveContainer>
    </figure>
  );
}
