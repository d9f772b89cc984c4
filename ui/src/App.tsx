import { useEffect, useState } from 'react';
import { applyTheme, loadTheme, nextTheme, type ThemeChoice } from './lib/theme';
import { PublishScreen } from './screens/publish/PublishScreen';

const SCREENS = [{ id: 'publish', label: 'Publish', render: () => <PublishScreen /> }] as const;
type ScreenId = (typeof SCREENS)[number]['id'];

export function App() {
  const [screen, setScreen] = useState<ScreenId>('publish');
  const [theme, setTheme] = useState<ThemeChoice>(loadTheme);
  useEffect(() => applyTheme(theme), [theme]);

  // Alt+1…9 jumps between screens: release managers live on the keyboard.
  useEffect(() => {
    function onKey(event: KeyboardEvent) {
      if (!event.altKey) return;
      const index = Number(event.key) - 1;
      if (index >= 0 && index < SCREENS.length) setScreen(SCREENS[index].id);
    }
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const current = SCREENS.find((s) => s.id === screen) ?? SCREENS[0];
  return (
    <div className="shell">
      <nav className="sidebar" aria-label="Sections">
        <div className="brand">
          <img src="/icon.png" alt="" width={28} height={28} />
          <span>Capstan</span>
        </div>
        {SCREENS.map((s, i) => (
          <button
            key={s.id}
            className={s.id === screen ? 'nav-item active' : 'nav-item'}
            aria-current={s.id === screen ? 'page' : undefined}
            onClick={() => setScreen(s.id)}
            title={`Alt+${i + 1}`}
          >
            {s.label}
          </button>
        ))}
        <div className="sidebar-foot">
          <button className="nav-item" onClick={() => setTheme(nextTheme(theme))} data-testid="theme-toggle">
            Theme: {theme}
          </button>
        </div>
      </nav>
      <main className="content">{current.render()}</main>
    </div>
  );
}
