// Light and dark themes: follow the system until the user picks one, then remember it.
export type ThemeChoice = 'system' | 'light' | 'dark';

const STORAGE_KEY = 'capstan.theme';

export function loadTheme(): ThemeChoice {
  const stored = globalThis.localStorage?.getItem(STORAGE_KEY);
  return stored === 'light' || stored === 'dark' ? stored : 'system';
}

export function applyTheme(choice: ThemeChoice) {
  if (choice === 'system') {
    delete document.documentElement.dataset.theme;
    globalThis.localStorage?.removeItem(STORAGE_KEY);
  } else {
    document.documentElement.dataset.theme = choice;
    globalThis.localStorage?.setItem(STORAGE_KEY, choice);
  }
}

export function nextTheme(choice: ThemeChoice): ThemeChoice {
  return choice === 'system' ? 'dark' : choice === 'dark' ? 'light' : 'system';
}
