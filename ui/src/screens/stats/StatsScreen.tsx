import { useState } from 'react';
import { ScreenHead } from '../../components/ScreenHead';
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
      <ScreenHead
        title="Stats"
        purpose="Which bundles devices run, and how installs and failures trend."
        onRefresh={app ? () => setRefresh((n) => n + 1) : undefined}
      />
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
