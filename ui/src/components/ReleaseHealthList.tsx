import type { ReleaseHealth } from '../bindings/ReleaseHealth';

/** A fraction as a percentage: 0.021 → "2.1 %". */
function percent(fraction: number): string {
  const value = fraction * 100;
  return `${Number.isInteger(value) ? value : value.toFixed(1)} %`;
}

/** The figures rollout plans and the guard act on, in the same words on every screen. */
export function releaseHealthText(h: ReleaseHealth): string {
  const where = `${h.version} ${h.rollout ? 'rollout' : 'target'} on ${h.channel}`;
  if (h.current.attempts === 0) return `${where}: no install attempts yet`;
  const base =
    h.baseline_version && h.baseline && h.baseline.attempts > 0
      ? `; ${h.baseline_version}: ${percent(h.baseline.rate)} of ${h.baseline.attempts}`
      : '';
  return (
    `${where}: ${h.current.failures} failures in ${h.current.attempts} attempts, ${percent(h.current.rate)} ` +
    `(95 % interval ${percent(h.current.lower)}–${percent(h.current.upper)})${base}`
  );
}

/** One line per served bundle, marked by its verdict. */
export function ReleaseHealthList({ health, testId }: { health: ReleaseHealth[]; testId?: string }) {
  if (health.length === 0) return null;
  return (
    <ul className="release-health" data-testid={testId}>
      {health.map((h) => (
        <li key={`${h.channel}-${h.min_native ?? 'any'}-${h.version}`} data-verdict={h.verdict} title={h.summary}>
          <span className={`tag verdict-${h.verdict}`}>{h.verdict.replace('_', ' ')}</span> {releaseHealthText(h)}
        </li>
      ))}
    </ul>
  );
}
