import { describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../bindings/AuditEntry';
import { actionInWords, briefValue, matchesFilter, prettyJson, summarizeChange } from './auditText';

describe('actionInWords', () => {
  it('knows the server actions and passes unknown ones through', () => {
    expect(actionInWords('channel.publish')).toBe('Published');
    expect(actionInWords('channel.rollout_abort')).toBe('Aborted rollout');
    expect(actionInWords('device.override_set')).toBe('Pinned device to channel');
    expect(actionInWords('token.revoke')).toBe('Revoked token');
    expect(actionInWords('something.new')).toBe('something.new');
  });
});

describe('summarizeChange', () => {
  it('lists changed fields before → after, ignoring bookkeeping', () => {
    const before = { name: 'production', target: '1.0.0', rollout: null, revision: 3, updated_at_ms: 1 };
    const after = { name: 'production', target: '1.0.0', rollout: { version: '1.1.0', share_bp: 1000, started_at_ms: 5 }, revision: 4, updated_at_ms: 2 };
    expect(summarizeChange(before, after)).toBe('rollout: none → 1.1.0 at 10 %');
    expect(summarizeChange({ target: '1.1.0', ios: true }, { target: 'builtin', ios: false })).toBe(
      'target: 1.1.0 → store build; ios: on → off',
    );
    expect(summarizeChange({ a: 1, b: 1, c: 1, d: 1 }, { a: 2, b: 2, c: 2, d: 2 })).toBe('a: 1 → 2; b: 1 → 2; c: 1 → 2; +1 more');
    expect(summarizeChange({ revision: 1 }, { revision: 2 })).toBe('no visible change');
  });

  it('names what was created or removed', () => {
    expect(summarizeChange(null, { version: '1.2.0', size: 1_500_000, sha256: 'ab' })).toBe('new: version 1.2.0; size 1.5 MB');
    expect(summarizeChange(null, { channel: 'beta' })).toBe('new: channel beta');
    expect(summarizeChange({ version: '0.9.0' }, null)).toBe('removed: version 0.9.0');
    expect(summarizeChange(null, null)).toBe('—');
    expect(summarizeChange(null, { public: true })).toBe('created');
    expect(summarizeChange('a', 'b')).toBe('a → b');
  });

  it('keeps long values short', () => {
    expect(briefValue('x', { deep: 'x'.repeat(80) })).toHaveLength(40);
    expect(briefValue('x', [1, 2])).toBe('[2 items]');
  });
});

describe('matchesFilter', () => {
  const entry: AuditEntry = {
    id: 1, actor: 'alice (ci token)', app_id: 'com.example.shop', action: 'channel.publish', subject: 'production',
    before: null, after: null, at_ms: 0,
  };
  it('matches every word against actor, action, action in words, subject and app', () => {
    expect(matchesFilter(entry, '')).toBe(true);
    expect(matchesFilter(entry, 'ALICE')).toBe(true);
    expect(matchesFilter(entry, 'published prod')).toBe(true);
    expect(matchesFilter(entry, 'channel.publish')).toBe(true);
    expect(matchesFilter(entry, 'shop')).toBe(true);
    expect(matchesFilter(entry, 'alice beta')).toBe(false);
  });
});

describe('prettyJson', () => {
  it('indents snapshots and says none for nothing', () => {
    expect(prettyJson({ a: 1 })).toBe('{\n  "a": 1\n}');
    expect(prettyJson(null)).toBe('none');
  });
});
