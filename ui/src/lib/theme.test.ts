import { afterEach, describe, expect, it, vi } from 'vitest';
import { applyTheme, loadTheme } from './theme';

afterEach(() => {
  vi.unstubAllGlobals();
  localStorage.clear();
  delete document.documentElement.dataset.theme;
});

/** A stand-in for the OS setting, which jsdom lacks. */
function osSetting(dark: boolean) {
  const listeners = new Set<() => void>();
  const query = {
    matches: dark,
    addEventListener: (_: string, l: () => void) => listeners.add(l),
    removeEventListener: (_: string, l: () => void) => listeners.delete(l),
  };
  vi.stubGlobal('matchMedia', () => query);
  return {
    change(toDark: boolean) {
      query.matches = toDark;
      listeners.forEach((l) => l());
    },
    listening: () => listeners.size,
  };
}

describe('themes', () => {
  it('follows the OS for "system" until stopped, and remembers nothing', () => {
    const os = osSetting(true);
    const stop = applyTheme('system');
    expect(document.documentElement.dataset.theme).toBe('dark');
    os.change(false);
    expect(document.documentElement.dataset.theme).toBe('light');
    stop();
    expect(os.listening()).toBe(0);
    expect(loadTheme()).toBe('system');
  });

  it('keeps an explicit choice over the OS, and remembers it', () => {
    const os = osSetting(false);
    applyTheme('dark');
    os.change(false);
    expect(document.documentElement.dataset.theme).toBe('dark');
    expect(os.listening()).toBe(0);
    expect(loadTheme()).toBe('dark');
  });
});
