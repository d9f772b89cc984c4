import { describe, expect, it } from 'vitest';
import type { Bundle } from '../../bindings/Bundle';
import { keptMinNativeHint, sizeJumpWarning } from './servedBundle';
import { makeBundle } from '../../test/fixtures';

function bundle(size: number, min: string | null = '1.0.0'): Bundle {
  return makeBundle({ app_id: 'a', version: '1.0.1', sha256: '', checksum: '', size, min_native_version: min });
}

describe('served bundle comparisons', () => {
  it('warns on a large size jump either way, not on ordinary changes', () => {
    expect(sizeJumpWarning(3_000_000, bundle(1_000_000))).toBe(
      'This bundle is 3.0× the size of 1.0.1, which the channel serves now (1.0 MB → 3.0 MB). Devices download all of it.',
    );
    expect(sizeJumpWarning(400_000, bundle(1_000_000))).toMatch(/60 % smaller than 1.0.1/);
    expect(sizeJumpWarning(1_200_000, bundle(1_000_000))).toBeNull();
    expect(sizeJumpWarning(1_200_000, undefined)).toBeNull();
  });

  it('names the kept MIN_NATIVE_VERSION', () => {
    expect(keptMinNativeHint(bundle(1, '2.1.0'))).toBe(
      "no MIN_NATIVE_VERSION file: the channel's current value 2.1.0 (of 1.0.1) is kept",
    );
    expect(keptMinNativeHint(undefined)).toMatch(/current value is kept/);
  });
});
