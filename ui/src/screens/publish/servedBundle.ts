// Comparing the bundle about to ship with the one the channel serves now.
import type { Bundle } from '../../bindings/Bundle';
import { formatBytes } from '../../lib/format';

/** A size change this large is worth a second look (an asset added by mistake, a lost chunk). */
const JUMP_RATIO = 1.5;

/** A warning when the new zip is much larger or smaller than the served bundle, else null. */
export function sizeJumpWarning(newZipSize: number, served: Bundle | undefined): string | null {
  if (!served || served.size <= 0 || newZipSize <= 0) return null;
  const ratio = newZipSize / served.size;
  const sizes = `${formatBytes(served.size)} → ${formatBytes(newZipSize)}`;
  if (ratio >= JUMP_RATIO) {
    return `This bundle is ${ratio.toFixed(1)}× the size of ${served.version}, which the channel serves now (${sizes}). Devices download all of it.`;
  }
  if (ratio <= 1 / JUMP_RATIO) {
    return `This bundle is ${Math.round((1 - ratio) * 100)} % smaller than ${served.version}, which the channel serves now (${sizes}). Check nothing is missing.`;
  }
  return null;
}

/** Where MIN_NATIVE_VERSION comes from when the project has no MIN_NATIVE_VERSION file. */
export function keptMinNativeHint(served: Bundle | undefined): string {
  if (!served?.min_native_version) return "no MIN_NATIVE_VERSION file: the channel's current value is kept";
  return `no MIN_NATIVE_VERSION file: the channel's current value ${served.min_native_version} (of ${served.version}) is kept`;
}
