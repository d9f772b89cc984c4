import type { HealthHint } from './bundleRows';

/** The health verdict in words, with a warning mark when numbers call for a look. */
export function HealthMark({ hint }: { hint: HealthHint }) {
  if (hint.level === 'warn') {
    return (
      <span className="health-mark warn" data-health="warn">
        <span aria-hidden="true">⚠ </span>
        {hint.text}
      </span>
    );
  }
  return (
    <span className={hint.level === 'ok' ? 'health-mark ok' : 'health-mark muted'} data-health={hint.level}>
      {hint.text}
    </span>
  );
}
