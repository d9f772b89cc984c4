import type { UiError } from '../bindings/UiError';

/** What to do next, per error code, in a release manager's words. */
function advice(error: UiError): string | null {
  switch (error.code) {
    case 'network':
      return 'Check that the server is running and reachable, then retry.';
    case 'unauthorized':
      return 'The token was refused (revoked or expired): add a new one under Servers.';
    case 'not_connected':
      return 'Connect to a server under Servers first.';
    case 'keychain':
      return 'Unlock your OS keychain, then retry.';
    default:
      return null;
  }
}

/** An error with what to do about it, and a retry when one makes sense. */
export function ErrorBanner({ error, onRetry }: { error: UiError; onRetry?: () => void }) {
  const next = advice(error);
  return (
    <div className="error banner" role="alert">
      <span>
        {error.message}
        {next && <span className="advice"> {next}</span>}
      </span>
      {onRetry && (
        <button type="button" className="button secondary" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}
