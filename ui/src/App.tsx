import { useCallback, useEffect, useState } from 'react';
import type { Session } from './bindings/Session';
import type { UiError } from './bindings/UiError';
import { toUiError } from './lib/backend/backend';
import { useBackend } from './lib/backend/context';
import { CurrentAppProvider } from './lib/app';
import { SessionProvider } from './lib/session';
import { applyTheme, loadTheme, nextTheme, type ThemeChoice } from './lib/theme';
import { AuditScreen } from './screens/audit/AuditScreen';
import { BundlesScreen } from './screens/bundles/BundlesScreen';
import { ChannelsScreen } from './screens/channels/ChannelsScreen';
import { ConnectScreen } from './screens/connect/ConnectScreen';
import { DevicesScreen } from './screens/devices/DevicesScreen';
import { KeysScreen } from './screens/keys/KeysScreen';
import { PublishScreen } from './screens/publish/PublishScreen';
import { StatsScreen } from './screens/stats/StatsScreen';

type ScreenId = 'publish' | 'channels' | 'bundles' | 'devices' | 'stats' | 'keys' | 'audit' | 'connect';
const NAV: { id: ScreenId; label: string }[] = [
  { id: 'publish', label: 'Publish' },
  { id: 'channels', label: 'Channels' },
  { id: 'bundles', label: 'Bundles' },
  { id: 'devices', label: 'Devices' },
  { id: 'stats', label: 'Stats' },
  { id: 'keys', label: 'Keys' },
  { id: 'audit', label: 'Audit log' },
  { id: 'connect', label: 'Servers' },
];

export function App() {
  const backend = useBackend();
  const [screen, setScreen] = useState<ScreenId>('publish');
  const [theme, setTheme] = useState<ThemeChoice>(loadTheme);
  const [session, setSession] = useState<Session | null>(null);
  const [sessionError, setSessionError] = useState<UiError | null>(null);
  const [apps, setApps] = useState<string[]>([]);
  const [app, setApp] = useState<string | null>(null);
  // Bumped when an app is registered from the console, to list the apps again.
  const [appsGeneration, setAppsGeneration] = useState(0);
  useEffect(() => applyTheme(theme), [theme]);

  // The apps of the connected server; the profile's default app is selected first.
  useEffect(() => {
    if (!session) {
      setApps([]);
      setApp(null);
      return;
    }
    backend.listAppChannels().then(
      (list) => {
        const ids = list.map((a) => a.app);
        setApps(ids);
        setApp((current) =>
          current && ids.includes(current) ? current : session.app && ids.includes(session.app) ? session.app : (ids[0] ?? null),
        );
      },
      () => setApp(session.app),
    );
  }, [backend, session, appsGeneration]);

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
          {session && apps.length === 0 && (
            <p className="app-picker hint" data-testid="no-apps">
              No app on this server yet: register one under Servers.
            </p>
          )}
          {session && apps.length > 0 && (
            <label className="app-picker">
              <span className="hint">App</span>
              <select name="current-app" value={app ?? ''} onChange={(e) => setApp(e.target.value)}>
                {apps.map((id) => (
                  <option key={id} value={id}>
                    {id}
                  </option>
                ))}
              </select>
            </label>
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
          <CurrentAppProvider app={app}>
          {screen === 'publish' && <PublishScreen />}
          {screen === 'channels' && <ChannelsScreen />}
          {screen === 'bundles' && <BundlesScreen />}
          {screen === 'devices' && <DevicesScreen />}
          {screen === 'stats' && <StatsScreen />}
          {screen === 'keys' && <KeysScreen />}
          {screen === 'audit' && <AuditScreen />}
          {screen === 'connect' && (
            <ConnectScreen
              session={session}
              onAppCreated={(created) => {
                setApp(created.id);
                setAppsGeneration((g) => g + 1);
              }}
              onConnected={(s) => {
                setSession(s);
                setSessionError(null);
                setScreen('publish');
              }}
            />
          )}
          </CurrentAppProvider>
        </main>
      </div>
    </SessionProvider>
  );
}
