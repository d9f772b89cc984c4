import { useState } from 'react';
import { useCurrentApp } from '../../lib/app';
import { ActivitySection } from './ActivitySection';
import { AdoptionSection } from './AdoptionSection';
import { rangeById, type RangeId } from './chartData';
import './stats.css';

/** Stats: adoption per channel and device events over time, as charts. */
export function StatsScreen() {
  const app = useCurrentApp();
  const [rangeId, setRangeId] = useState<RangeId>('7d');
  const [refresh, setRefresh] = useState(0);
  return (
    <div className="screen stats-screen">
      <header className="screen-head stats-head">
        <div>
          <h1>Stats</h1>
          <p className="muted">Which bundles devices run, and how installs and failures trend.</p>
        </div>
        {app && (
          <button type="button" className="button secondary" onClick={() => setRefresh((n) => n + 1)}>
            Refresh
          </button>
        )}
      </header>
      {app ? (
        <>
          <AdoptionSection app={app} refresh={refresh} />
          <ActivitySection app={app} range={rangeById(rangeId)} onRange={setRangeId} refresh={refresh} />
        </>
      ) : (
        <p className="notice">Connect to a server and pick an app.</p>
      )}
    </div>
  );
}
