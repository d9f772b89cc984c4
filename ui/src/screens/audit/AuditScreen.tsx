import { useMemo, useState, type ReactNode } from 'react';
import type { AuditEntry } from '../../bindings/AuditEntry';
import { ErrorBanner } from '../../components/ErrorBanner';
import { ScreenHead } from '../../components/ScreenHead';
import { useCurrentApp } from '../../lib/app';
import { useBackend } from '../../lib/backend/context';
import { useLoad } from '../../lib/useLoad';
import { AuditRow } from './AuditRow';
import { matchesFilter } from './auditText';
import './audit.css';


const TITLE = 'Audit log';
const PURPOSE = 'Every management change, newest first: who did what, and what it changed.';
/** How many entries a page adds. */
export const PAGE = 50;

type Scope = 'app' | 'all';

/** Audit log: who changed what, newest first, for this app or the whole server. */
export function AuditScreen() {
  const app = useCurrentApp();
  return (
    <div className="screen audit-screen">
      {app ? (
        <AuditLog app={app} />
      ) : (
        <>
          <ScreenHead title={TITLE} purpose={PURPOSE} />
          <p className="notice">Connect to a server and pick an app.</p>
        </>
      )}
    </div>
  );
}


function AuditLog({ app }: { app: string }) {
  const backend = useBackend();
  const [scope, setScope] = useState<Scope>('app');
  const [limit, setLimit] = useState(PAGE);
  const [filter, setFilter] = useState('');
  const target = scope === 'app' ? app : null;
  const loaded = useLoad(() => backend.auditLog(target, limit), `${target ?? '*'}|${limit}`);
  const entries = loaded.data;
  const visible = useMemo(() => (entries ?? []).filter((e) => matchesFilter(e, filter)), [entries, filter]);

  function changeScope(next: Scope) {
    setScope(next);
    setLimit(PAGE);
  }

  return (
    <>
      <ScreenHead title={TITLE} purpose={PURPOSE} onRefresh={loaded.reload} busy={loaded.loading} />
      <div className="toolbar audit-toolbar">
        <div className="segmented" role="group" aria-label="Which changes">
          <ScopeButton scope="app" current={scope} onChange={changeScope}>
            This app
          </ScopeButton>
          <ScopeButton scope="all" current={scope} onChange={changeScope}>
            All apps
          </ScopeButton>
        </div>
        <input
          type="search"
          className="audit-filter"
          name="audit-filter"
          aria-label="Filter by actor, action or subject"
          placeholder="Filter by actor, action or subject"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
        />
        {entries && (
          <span className="hint" data-testid="audit-count">
            {filter.trim()
              ? `${visible.length} of ${entries.length} shown`
              : `${entries.length} change${entries.length === 1 ? '' : 's'}`}
          </span>
        )}
      </div>
      {loaded.error && <ErrorBanner error={loaded.error} onRetry={loaded.reload} />}
      {loaded.loading && !entries && !loaded.error && <p className="muted">Loading…</p>}
      {entries && entries.length === 0 && (
        <p className="notice">{scope === 'app' ? `No changes recorded for ${app} yet.` : 'No changes recorded yet.'}</p>
      )}
      {entries && entries.length > 0 && visible.length === 0 && (
        <p className="notice">No change matches “{filter.trim()}”.</p>
      )}
      {visible.length > 0 && <AuditTable entries={visible} showApp={scope === 'all'} />}
      {entries && entries.length >= limit && (
        <div className="audit-more">
          <button
            type="button"
            className="button secondary"
            onClick={() => setLimit((n) => n + PAGE)}
            disabled={loaded.loading}
          >
            {loaded.loading ? 'Loading…' : 'Load more'}
          </button>
        </div>
      )}
    </>
  );
}

function ScopeButton(props: { scope: Scope; current: Scope; onChange: (scope: Scope) => void; children: ReactNode }) {
  const active = props.scope === props.current;
  return (
    <button
      type="button"
      className={active ? 'segment active' : 'segment'}
      aria-pressed={active}
      onClick={() => props.onChange(props.scope)}
    >
      {props.children}
    </button>
  );
}

function AuditTable({ entries, showApp }: { entries: AuditEntry[]; showApp: boolean }) {
  const [expanded, setExpanded] = useState<Set<number>>(new Set());
  const toggle = (id: number) =>
    setExpanded((current) => {
      const next = new Set(current);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  return (
    <div className="card audit-card">
      <table className="table audit-table" data-testid="audit-table">
        <thead>
          <tr>
            <th>When</th>
            <th>Who</th>
            <th>Action</th>
            <th>Subject</th>
            {showApp && <th>App</th>}
            <th>What changed</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((entry) => (
            <AuditRow
              key={entry.id}
              entry={entry}
              showApp={showApp}
              expanded={expanded.has(entry.id)}
              onToggle={() => toggle(entry.id)}
            />
          ))}
        </tbody>
      </table>
    </div>
  );
}
