import { formatBytes, percent } from '../lib/format';

interface Props {
  label: string;
  done: number;
  total: number;
  onCancel?: () => void;
}

/** A labelled byte progress bar with an optional Cancel button. */
export function ProgressBar({ label, done, total, onCancel }: Props) {
  const value = percent(done, total);
  return (
    <div className="progress" data-testid="progress">
      <div className="progress-head">
        <span>{label}</span>
        <span className="muted">
          {formatBytes(done)} of {formatBytes(total)} · {value.toFixed(0)}%
        </span>
      </div>
      <div className="progress-track" role="progressbar" aria-valuenow={Math.round(value)} aria-valuemin={0} aria-valuemax={100}>
        <div className="progress-fill" style={{ width: `${value}%` }} />
      </div>
      {onCancel && (
        <button type="button" className="button secondary" onClick={onCancel}>
          Cancel
        </button>
      )}
    </div>
  );
}
