import { useState } from 'react';
import { ErrorBanner } from '../../components/ErrorBanner';
import { ScreenHead } from '../../components/ScreenHead';
import { useCurrentApp } from '../../lib/app';
import { useBackend } from '../../lib/backend/context';
import { useLoad } from '../../lib/useLoad';
import { BundleRow } from './BundleRow';
import { bundleRows, type BundleRowData } from './bundleRows';
import './bundles.css';


const TITLE = 'Bundles';
const PURPOSE = 'Every uploaded version, the channels serving it and how devices fare with it.';
/** Bundles: every uploaded version, where it is served and how devices fare with it. */
export function BundlesScreen() {
  const app = useCurrentApp();
  return (
    <div className="screen bundles-screen">
      {app ? (
        <BundlesOfApp app={app} />
      ) : (
        <>
          <ScreenHead title={TITLE} purpose={PURPOSE} />
          <p className="notice">Connect to a server and pick an app.</p>
        </>
      )}
    </div>
  );
}


function BundlesOfApp({ app }: { app: string }) {
  const backend = useBackend();
  const loaded = useLoad(
    async () => {
      const [bundles, health, channels] = await Promise.all([
        backend.listBundles(app),
        backend.bundleHealth(app),
        backend.listChannels(app),
      ]);
      return bundleRows(bundles, health, channels);
    },
    `${app}`,
  );
  return (
    <>
      <ScreenHead title={TITLE} purpose={PURPOSE} onRefresh={loaded.reload} busy={loaded.loading} />
      {loaded.error && <ErrorBanner error={loaded.error} onRetry={loaded.reload} />}
      {loaded.loading && !loaded.data && !loaded.error && <p className="muted">Loading…</p>}
      {loaded.data && loaded.data.length === 0 && (
        <p className="notice">No bundles yet — publish one from the Publish screen.</p>
      )}
      {loaded.data && loaded.data.length > 0 && <BundleTable rows={loaded.data} />}
    </>
  );
}

function BundleTable({ rows }: { rows: BundleRowData[] }) {
  const [expanded, setExpanded] = useState<Set<string>>(new Set());
  const toggle = (version: string) =>
    setExpanded((current) => {
      const next = new Set(current);
      if (next.has(version)) next.delete(version);
      else next.add(version);
      return next;
    });
  return (
    <div className="card bundles-card">
      <table className="table bundles-table" data-testid="bundles-table">
        <thead>
          <tr>
            <th>Version</th>
            <th className="num">Size</th>
            <th>Checksum</th>
            <th>Min native</th>
            <th>Published</th>
            <th>Channels</th>
            <th className="num">Installs</th>
            <th className="num">Failures</th>
            <th className="num">Rollbacks</th>
            <th className="num">Active</th>
            <th>Health</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <BundleRow
              key={row.bundle.version}
              row={row}
              expanded={expanded.has(row.bundle.version)}
              onToggle={() => toggle(row.bundle.version)}
            />
          ))}
        </tbody>
      </table>
      <p className="hint bundles-foot">
        {rows.length} bundle{rows.length === 1 ? '' : 's'} · open a version for release notes, warnings and failures
        by action. Active = devices running it, seen in the last 30 days.
      </p>
    </div>
  );
}
