import { ReleaseHealthList } from '../../components/ReleaseHealthList';
import type { Bundle } from '../../bindings/Bundle';
import type { BundleHealth } from '../../bindings/BundleHealth';
import { describeWarnings, failureBreakdown } from './bundleRows';

/** What an expanded bundle row shows: release notes, inspection warnings, hashes, failures. */
export function BundleDetails({ bundle, health }: { bundle: Bundle; health: BundleHealth }) {
  const warnings = describeWarnings(bundle.warnings);
  const failures = failureBreakdown(health.failures);
  return (
    <div className="bundle-details" data-testid={`bundle-details-${bundle.version}`}>
      <dl className="facts">
        <div className="wide">
          <dt>Release notes</dt>
          <dd className="bundle-notes">{bundle.notes.trim() ? bundle.notes : <span className="muted">No release notes</span>}</dd>
        </div>
        <div>
          <dt>Files</dt>
          <dd>{bundle.file_count}</dd>
        </div>
        <div className="wide">
          <dt>SHA-256</dt>
          <dd className="mono">{bundle.sha256}</dd>
        </div>
        {bundle.checksum !== bundle.sha256 && (
          <div className="wide">
            <dt>Checksum devices verify</dt>
            <dd className="mono">{bundle.checksum}</dd>
          </div>
        )}
        {health.on_channels.length > 0 && (
          <div className="wide">
            <dt>Health on channels</dt>
            <dd>
              <ReleaseHealthList health={health.on_channels} testId={`bundle-health-${bundle.version}`} />
            </dd>
          </div>
        )}
        <div className="wide">
          <dt>Failures by action</dt>
          <dd>
            {failures.length === 0 ? (
              <span className="muted">None reported</span>
            ) : (
              <ul className="bundle-failures">
                {failures.map((f) => (
                  <li key={f.action}>
                    <span className="mono">{f.action}</span> <strong>{f.count}</strong>
                  </li>
                ))}
              </ul>
            )}
          </dd>
        </div>
      </dl>
      {warnings.length > 0 ? (
        <ul className="warnings" aria-label="Warnings">
          {warnings.map((w, i) => (
            <li key={i} className="warning">
              {w}
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted bundle-no-warnings">No inspection warnings</p>
      )}
    </div>
  );
}
