import { useCallback, useEffect, useState } from 'react';
import type { Session } from './bindings/Session';
import type { UiError } from './bindings/UiError';
import { toUiError } from './lib/backend/backend';
import { useBackend } from './lib/backend/context';
import { SessionProvider } from './lib/session';
import { applyTheme, loadTheme, nextTheme, type ThemeChoice } from './lib/theme';
import { ConnectScreen } from './screens/connect/ConnectScreen';
import { PublishScreen } from './screens/publish/PublishScreen';

type ScreenId = 'publish' | 'connect';
const NAV: { id: ScreenId; label: string }[] = [
  { id: 'publish', label: 'Publish' },
  { id: 'connect', label: 'Servers' },
];

export function App() {
  const backend = useBackend();
  const [screen, setScreen] = useState<ScreenId>('publish');
  const [theme, setTheme] = useState<ThemeChoice>(loadTheme);
  const [session, setSession] = useState<Session | null>(null);
  const [sessionError, setSessionError] = useState<UiError | null>(null);
  useEffect(() => applyTheme(theme), [theme]);

  const refreshSession = useCallback(() => {
    backend.currentSession().then(
      (s) => {
        setSession(s);
        setSessionError(null);
      },
      (e) => {
        const error = toUiError(e);
        setSession(null);
        setSessionError(error);
        // First start, or a token that stopped working: the only useful place is Connect.
        if (error.code === 'not_connected' || error.code === 'unauthorized') setScreen('connect');
      },
    );
  }, [backend]);
  useEffect(refreshSession, [refreshSession]);

  // Alt+1…9 jumps between screens: release managers live on the keyboard.
  useEffect(() => {
    function onKey(event: KeyboardEvent) {
      if (!event.altKey) return;
      const index = Number(event.key) - 1;
      if (index >= 0 && index < NAV.length) setScreen(NAV[index].id);
    }
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  return (
    <SessionProvider session={session}>
      <div className="shell">
        <nav className="sidebar" aria-label="Sections">
          <div className="brand">
            <img src="/icon.png" alt="" width={28} height={28} />
            <span>Capstan</span>
          </div>
          {session ? (
            <div className="session" data-testid="active-server" title={session.url}>
              <strong>{session.profile}</strong>
              {session.url}
              <br />
              {session.token_name} · {session.role}
            </div>
          ) : (
            <div className="session none" data-testid="active-server">
              {sessionError?.code === 'not_connected' || !sessionError ? 'Not connected' : sessionError.message}
            </div>
          )}
          {NAV.map((item, i) => (
            <button
              key={item.id}
              className={item.id === screen ? 'nav-item active' : 'nav-item'}
              aria-current={item.id === screen ? 'page' : undefined}
              onClick={() => setScreen(item.id)}
              title={`Alt+${i + 1}`}
            >
              {item.label}
            </button>
          ))}
          <div className="sidebar-foot">
            <button className="nav-item" onClick={() => setTheme(nextTheme(theme))} data-testid="theme-toggle">
              Theme: {theme}
            </button>
          </div>
        </nav>
        <main className="content">
          {screen === 'publish' && <PublishScreen />}
          {screen === 'connect' && (
            <ConnectScreen
              session={session}
              onConnected={(s) => {
                setSession(s);
                setSessionError(null);
                setScreen('publish');
              }}
            />
          )}
        </main>
      </div>
    </SessionProvider>
  );
}
