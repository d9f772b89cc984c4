// Test data for the channel screens.
import type { Channel } from '../../bindings/Channel';
import { makeChannel } from '../../test/fixtures';

/** A production channel serving 1.0.0, with `overrides`. */
export function channel(overrides: Parameters<typeof makeChannel>[0] = {}): Channel {
  return makeChannel(overrides);
}
