// Light and dark themes: follow the system until the user picks one, then remember it.
export type ThemeChoice = 'system' | 'light' | 'dark';

const STORAGE_KEY = 'capstan.theme';

export function loadTheme(): ThemeChoice {
  const stored = globalThis.localStorage?.getItem(STORAGE_KEY);
  return stored === 'light' || stored === 'dark' ? stored : 'system';
}

/**
 * Sets `data-theme` on the page, the one switch the stylesheet reads. For `system` it follows
 * the OS setting until the returned function stops it (an effect's cleanup).
 */
export function applyTheme(choice: ThemeChoice): () => void {
  const root = document.documentElement;
  if (choice !== 'system') {
    root.dataset.theme = choice;
    globalThis.localStorage?.setItem(STORAGE_KEY, choice);
    return () => {};
  }
  globalThis.localStorage?.removeItem(STORAGE_KEY);
  const dark = globalThis.matchMedia?.('(prefers-color-scheme: dark)');
  const follow = () => {
    root.dataset.theme = dark?.matches ? 'dark' : 'light';
  };
  follow();
  dark?.addEventListener('change', follow);
  return () => dark?.removeEventListener('change', follow);
}

export function nextTheme(choice: ThemeChoice): ThemeChoice {
  return choice === 'system' ? 'dark' : choice === 'dark' ? 'light' : 'system';
}
