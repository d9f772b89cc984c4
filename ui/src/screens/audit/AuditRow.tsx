import type { AuditEntry } from '../../bindings/AuditEntry';
import { formatTime } from '../../lib/format';
import { actionInWords, isKnownAction, prettyJson, summarizeChange } from './auditText';

interface Props {
  entry: AuditEntry;
  showApp: boolean;
  expanded: boolean;
  onToggle: () => void;
}

/** One management change; its "what changed" cell expands to the before/after JSON. */
export function AuditRow({ entry, showApp, expanded, onToggle }: Props) {
  const detailsId = `audit-${entry.id}-details`;
  const columns = showApp ? 6 : 5;
  return (
    <>
      <tr data-audit-id={entry.id} data-action={entry.action}>
        <td className="audit-when">{formatTime(entry.at_ms)}</td>
        <td>{entry.actor}</td>
        <td title={entry.action}>
          {actionInWords(entry.action)}
          {isKnownAction(entry.action) && <span className="hint mono audit-raw"> {entry.action}</span>}
        </td>
        <td className="audit-subject">{entry.subject}</td>
        {showApp && <td>{entry.app_id ?? <span className="muted">server</span>}</td>}
        <td>
          <button
            type="button"
            className="audit-toggle"
            aria-expanded={expanded}
            aria-controls={detailsId}
            onClick={onToggle}
            title={expanded ? 'Hide the before/after JSON' : 'Show the before/after JSON'}
          >
            <span aria-hidden="true" className="chevron">
              {expanded ? '▾' : '▸'}
            </span>
            <span>{summarizeChange(entry.before, entry.after)}</span>
          </button>
        </td>
      </tr>
      {expanded && (
        <tr id={detailsId} className="audit-details-row">
          <td colSpan={columns}>
            <div className="audit-json">
              <div>
                <div className="hint">Before</div>
                <pre className="mono" data-testid="audit-before">
                  {prettyJson(entry.before)}
                </pre>
              </div>
              <div>
                <div className="hint">After</div>
                <pre className="mono" data-testid="audit-after">
                  {prettyJson(entry.after)}
                </pre>
              </div>
            </div>
          </td>
        </tr>
      )}
    </>
  );
}
