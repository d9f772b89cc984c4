import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { AdoptionChart as AdoptionData } from './chartData';
import { versionColor } from './chartData';
import { axisLine, axisTick, cursorFill, gridStroke, INITIAL_DIMENSION, legendStyle, tooltipLabelStyle, tooltipStyle } from './chartStyle';

/** One horizontal bar per channel, stacked by the bundle versions its devices run. */
export function AdoptionChart({ data }: { data: AdoptionData }) {
  const height = Math.max(140, 56 * data.rows.length + 70);
  return (
    <figure className="chart" data-testid="adoption-chart" aria-label="Devices per bundle version, by channel">
      <ResponsiveContainer width="100%" height={height} initialDimension={{ ...INITIAL_DIMENSION, height }}>
        <BarChart data={data.rows} layout="vertical" margin={{ top: 4, right: 16, bottom: 4, left: 8 }}>
          <CartesianGrid horizontal={false} stroke={gridStroke} strokeDasharray="3 3" />
          <XAxis type="number" allowDecimals={false} tick={axisTick} axisLine={axisLine} tickLine={axisLine} />
          <YAxis type="category" dataKey="channel" width={96} tick={axisTick} axisLine={axisLine} tickLine={false} />
          <Tooltip contentStyle={tooltipStyle} labelStyle={tooltipLabelStyle} cursor={cursorFill} />
          <Legend wrapperStyle={legendStyle} />
          {data.versions.map((version, i) => (
            <Bar
              key={version}
              dataKey={version}
              name={version === 'builtin' ? 'store build' : version}
              stackId="devices"
              fill={versionColor(version, i)}
              isAnimationActive={false}
              maxBarSize={28}
            />
          ))}
        </BarChart>
      </ResponsiveContainer>
    </figure>
  );
}
