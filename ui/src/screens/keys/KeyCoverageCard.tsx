import { ErrorBanner } from '../../components/ErrorBanner';
import { useBackend } from '../../lib/backend/context';
import { useLoad } from '../../lib/useLoad';
import { coverageGroups, trustLabel } from './keyText';

const ACTIVE_DAYS = 30;

/** Which keys the active devices trust, per native version: when an old key can be retired. */
export function KeyCoverageCard({ app }: { app: string }) {
  const backend = useBackend();
  const coverage = useLoad(() => backend.keyCoverage(app, ACTIVE_DAYS), app);
  const groups = coverage.data ? coverageGroups(coverage.data) : [];
  return (
    <section className="card" aria-label="Which keys devices trust" data-testid="key-coverage">
      <h2>Which keys devices trust</h2>
      {coverage.error && <ErrorBanner error={coverage.error} onRetry={coverage.reload} />}
      {coverage.data && (
        <p className="muted">
          {coverage.data.active_devices} devices seen in the last {coverage.data.active_days} days. A key no device
          trusts any more can be unregistered.
        </p>
      )}
      {coverage.data && groups.length === 0 && <p className="notice">No device has checked for updates yet.</p>}
      {groups.length > 0 && (
        <table className="table" data-testid="coverage-table">
          <thead>
            <tr>
              <th>Native version</th>
              <th>Trusts</th>
              <th className="num">Devices</th>
              <th className="num">Share</th>
            </tr>
          </thead>
          <tbody>
            {groups.flatMap((group) =>
              group.rows.map((row, i) => (
                <tr key={`${group.title}-${row.trust}-${row.key_id ?? ''}`}>
                  <td>{i === 0 ? group.title : ''}</td>
                  <td>{trustLabel(row)}</td>
                  <td className="num">{row.devices}</td>
                  <td className="num">{row.percent.toFixed(1)} %</td>
                </tr>
              )),
            )}
          </tbody>
        </table>
      )}
    </section>
  );
}
