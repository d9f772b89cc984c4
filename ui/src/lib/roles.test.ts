import { describe, expect, it } from 'vitest';
import { deniedReason } from './roles';

describe('deniedReason', () => {
  it('follows the server role ladder', () => {
    expect(deniedReason('viewer', 'publish')).toMatch(/role \(viewer\) cannot publish/);
    expect(deniedReason('qa', 'publish')).not.toBeNull();
    expect(deniedReason('publisher', 'publish')).toBeNull();
    expect(deniedReason('admin', 'publish')).toBeNull();
    expect(deniedReason('qa', 'set_override')).toBeNull();
    expect(deniedReason('viewer', 'set_override')).toMatch(/change device channels/);
    expect(deniedReason('unknown', 'set_override')).not.toBeNull();
    expect(deniedReason('publisher', 'manage_keys')).toMatch(/cannot register signing keys.*an admin token can/);
    expect(deniedReason('admin', 'manage_keys')).toBeNull();
  });
});
