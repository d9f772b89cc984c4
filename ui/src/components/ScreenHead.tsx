/** A screen's title, what it is for, and its Refresh button (when it has something to reload). */
export function ScreenHead({
  title,
  purpose,
  onRefresh,
  busy,
}: {
  title: string;
  purpose: string;
  onRefresh?: () => void;
  busy?: boolean;
}) {
  return (
    <header className="screen-head screen-head-bar">
      <div>
        <h1>{title}</h1>
        <p className="muted">{purpose}</p>
      </div>
      {onRefresh && (
        <button type="button" className="button secondary" onClick={onRefresh} disabled={busy}>
          {busy ? 'Refreshing…' : 'Refresh'}
        </button>
      )}
    </header>
  );
}
