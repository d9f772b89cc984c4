// The version checks the publish form does as you type; the server and the client use-case
// check again (capstan-core's rules), this is only for early, friendly feedback.

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

export interface Parsed {
  major: number;
  minor: number;
  patch: number;
  prerelease: string | null;
}

export function parseSemver(text: string): Parsed | null {
  const match = SEMVER.exec(text.trim());
  if (!match) return null;
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]), prerelease: match[4] ?? null };
}

/** Negative when a < b, zero when equal, positive when a > b (build metadata ignored). */
export function compareSemver(a: Parsed, b: Parsed): number {
  const core = a.major - b.major || a.minor - b.minor || a.patch - b.patch;
  if (core !== 0) return core;
  if (a.prerelease === b.prerelease) return 0;
  if (a.prerelease === null) return 1;
  if (b.prerelease === null) return -1;
  return a.prerelease < b.prerelease ? -1 : 1;
}

/** Why `version` cannot be published over `current` (the channel's newest bundle), or null. */
export function versionProblem(version: string, current: string | null): string | null {
  const parsed = parseSemver(version);
  if (!parsed) return `“${version}” is not a semver version such as 1.4.2`;
  if (current && current !== 'builtin') {
    const currentParsed = parseSemver(current);
    if (currentParsed && compareSemver(parsed, currentParsed) <= 0) {
      return `the channel already serves ${current}: the new version must be greater`;
    }
  }
  return null;
}
