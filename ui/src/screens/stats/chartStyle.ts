// Chart chrome that follows the theme: axis text, grid lines and tooltips use the CSS variables.
import type { CSSProperties } from 'react';

export const CHART_HEIGHT = 240;
/** Size before the first measurement (and in tests, where nothing has a layout). */
export const INITIAL_DIMENSION = { width: 720, height: CHART_HEIGHT };

export const axisTick = { fill: 'var(--muted)', fontSize: 12 };
export const axisLine = { stroke: 'var(--border)' };
export const gridStroke = 'var(--border)';

export const tooltipStyle: CSSProperties = {
  background: 'var(--panel)',
  border: '1px solid var(--border)',
  borderRadius: 6,
  color: 'var(--text)',
  fontSize: 12,
};
export const tooltipLabelStyle: CSSProperties = { color: 'var(--text)', fontWeight: 600 };
export const legendStyle: CSSProperties = { fontSize: 12, color: 'var(--text)' };
export const cursorFill = { fill: 'var(--border)', fillOpacity: 0.35 };
