import { describe, expect, it } from 'vitest';
import { formatBytes, percent, shortHash } from './format';

describe('format', () => {
  it('prints bytes like the CLI', () => {
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(1_500_000)).toBe('1.5 MB');
    expect(formatBytes(205_340_000)).toBe('205.3 MB');
  });

  it('keeps percentages within 0–100, even for empty totals', () => {
    expect(percent(0, 0)).toBe(0);
    expect(percent(5, 0)).toBe(100);
    expect(percent(50, 200)).toBe(25);
    expect(percent(300, 200)).toBe(100);
  });

  it('shortens hashes but not short strings', () => {
    expect(shortHash('0123456789abcdef0123')).toBe('0123456789ab…0123');
    expect(shortHash('abc')).toBe('abc');
  });
});
