import { formatBytes, formatTime, shortHash } from '../../lib/format';
import { BundleDetails } from './BundleDetails';
import { deltaText, failureBreakdown, type BundleRowData } from './bundleRows';
import { HealthMark } from './HealthMark';

export const BUNDLE_COLUMNS = 11;

interface Props {
  row: BundleRowData;
  expanded: boolean;
  onToggle: () => void;
}

/** One bundle: its facts, where it is served and how it is doing; expands to notes and warnings. */
export function BundleRow({ row, expanded, onToggle }: Props) {
  const { bundle, health, channels, hint } = row;
  const detailsId = `bundle-${bundle.version}-details`;
  const breakdown = failureBreakdown(health.failures)
    .map((f) => `${f.action}: ${f.count}`)
    .join('\n');
  return (
    <>
      <tr data-version={bundle.version} className={hint.level === 'warn' ? 'bundle-row unhealthy' : 'bundle-row'}>
        <td>
          <button
            type="button"
            className="bundle-toggle"
            aria-expanded={expanded}
            aria-controls={detailsId}
            aria-label={`${expanded ? 'Hide' : 'Show'} details of ${bundle.version}`}
            onClick={onToggle}
          >
            <span aria-hidden="true" className="chevron">
              {expanded ? '▾' : '▸'}
            </span>
            <strong>{bundle.version}</strong>
          </button>
        </td>
        <td className="num" title={`${bundle.file_count} files`}>
          {formatBytes(bundle.size)}
          {bundle.delta != null && (
            <>
              <br />
              <span
                className="muted"
                data-testid="delta"
                title={`A device on ${bundle.delta.from_version} downloads only the files that changed`}
              >
                {deltaText(bundle)} from {bundle.delta.from_version}
              </span>
            </>
          )}
        </td>
        <td className="mono bundle-hash" title={bundle.checksum}>
          {shortHash(bundle.checksum)}
        </td>
        <td>{bundle.min_native_version ?? <span className="muted">—</span>}</td>
        <td className="bundle-published">
          {bundle.created_by}
          <br />
          <span className="muted">{formatTime(bundle.created_at_ms)}</span>
        </td>
        <td>
          {channels.length === 0 ? (
            <span className="muted">—</span>
          ) : (
            channels.map((c) => (
              <span
                key={`${c.channel}-${c.kind}`}
                className={c.kind === 'target' ? 'tag on' : 'tag rollout'}
                title={`${c.channel}: ${c.label}`}
              >
                {/* Compact, so the health columns fit: the tag's title says it in words. */}
                {c.kind === 'target' ? c.channel : `${c.channel} · ${c.label.replace('rollout ', '')}`}
              </span>
            ))
          )}
        </td>
        <td className="num">{health.installs}</td>
        <td className="num" title={breakdown || 'No failures'} data-testid="failures">
          {health.failures_total}
        </td>
        <td className={health.rollbacks > 0 ? 'num rollbacks' : 'num'}>{health.rollbacks}</td>
        <td className="num">{health.active_devices}</td>
        <td className="bundle-health">
          <HealthMark hint={hint} />
        </td>
      </tr>
      {expanded && (
        <tr id={detailsId} className="bundle-details-row">
          <td colSpan={BUNDLE_COLUMNS}>
            <BundleDetails bundle={bundle} health={health} />
          </td>
        </tr>
      )}
    </>
  );
}
