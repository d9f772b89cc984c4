import { describe, expect, it } from 'vitest';
import { compareSemver, parseSemver, versionProblem } from './semver';

describe('semver', () => {
  it('parses strict semver only', () => {
    expect(parseSemver('1.4.2')).toEqual({ major: 1, minor: 4, patch: 2, prerelease: null });
    expect(parseSemver('2.0.0-rc.1+build.5')).toMatchObject({ prerelease: 'rc.1' });
    for (const bad of ['1.4', 'v1.4.2', '01.2.3', 'one', '']) expect(parseSemver(bad)).toBeNull();
  });

  it('orders releases after their pre-releases', () => {
    const v = (s: string) => parseSemver(s)!;
    expect(compareSemver(v('1.2.3'), v('1.2.4'))).toBeLessThan(0);
    expect(compareSemver(v('1.10.0'), v('1.9.9'))).toBeGreaterThan(0);
    expect(compareSemver(v('2.0.0'), v('2.0.0-rc.1'))).toBeGreaterThan(0);
    expect(compareSemver(v('1.0.0+a'), v('1.0.0+b'))).toBe(0);
  });

  it('explains why a version cannot be published', () => {
    expect(versionProblem('1.0', null)).toMatch(/not a semver/);
    expect(versionProblem('1.0.0', '1.0.0')).toMatch(/must be greater/);
    expect(versionProblem('1.0.1', '1.0.0')).toBeNull();
    expect(versionProblem('1.0.0', 'builtin')).toBeNull();
    expect(versionProblem('1.0.0', null)).toBeNull();
  });
});
