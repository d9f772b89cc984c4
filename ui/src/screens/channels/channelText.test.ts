import { describe, expect, it } from 'vitest';
import type { HistoryAction } from '../../bindings/HistoryAction';
import type { HistoryEntry } from '../../bindings/HistoryEntry';
import {
  abortConsequence,
  historySentence,
  previousTarget,
  promoteConsequence,
  rollbackConsequence,
  servesSentence,
  widenConsequence,
} from './channelText';
import { channel } from './fixtures';

function entry(action: HistoryAction, before: string | null, after: string | null): HistoryEntry {
  return {
    id: 0,
    channel: 'production',
    action,
    target_before: before,
    target_after: after,
    rollout_before: null,
    rollout_after: null,
    actor: 'ci',
    at_ms: 0,
  };
}

describe('channel sentences', () => {
  it('says what a channel serves, with the rollout on top', () => {
    expect(servesSentence(channel())).toBe('Serves 1.0.0 to every device.');
    expect(servesSentence(channel({ target: 'builtin' }))).toBe('Serves the store build to every device.');
    expect(servesSentence(channel({ rollout: { version: '1.1.0', share_bp: 1000, started_at_ms: 0 } }))).toBe(
      '10 % of devices get 1.1.0; the rest get 1.0.0.',
    );
  });

  it('finds the previous target like the server, skipping rollbacks', () => {
    // Newest first: 1.0.0 → 1.0.1 → 1.0.2, then a rollback to 1.0.1.
    const history = [entry('rollback', '1.0.2', '1.0.1'), entry('publish', '1.0.1', '1.0.2'), entry('publish', '1.0.0', '1.0.1')];
    expect(previousTarget(channel({ target: '1.0.1' }), history)).toBe('1.0.0');
    expect(previousTarget(channel({ target: '1.0.0' }), [entry('publish', null, '1.0.0')])).toBeNull();
  });

  it('spells out what a rollback changes for which devices', () => {
    const c = channel({ target: '1.0.2', rollout: { version: '1.1.0', share_bp: 2500, started_at_ms: 0 } });
    const back = rollbackConsequence(c, 'previous', '1.0.1');
    expect(back.title).toBe('Roll production back to 1.0.1?');
    expect(back.lines[0]).toBe('Every device on production goes from 1.0.2 to 1.0.1 at its next update check.');
    expect(back.lines).toContain('The 1.1.0 rollout (25 %) ends.');
    expect(back.danger).toBe(true);
    const store = rollbackConsequence(c, 'builtin', null);
    expect(store.title).toBe('Roll production back to the store build?');
    expect(store.lines.join(' ')).toMatch(/drop their live-update bundle/);
  });

  it('widening and narrowing say which share changes', () => {
    const c = channel({ rollout: { version: '1.1.0', share_bp: 1000, started_at_ms: 0 } });
    expect(widenConsequence(c, 50).title).toBe('Widen the 1.1.0 rollout on production to 50 %?');
    expect(widenConsequence(c, 5).confirmLabel).toBe('Narrow rollout');
    expect(abortConsequence(c).lines[1]).toMatch(/sent back to 1.0.0/);
  });

  it('promotion names both channels and the versions', () => {
    const beta = channel({ name: 'beta', target: '1.2.0' });
    const prod = channel({ target: '1.1.0', rollout: { version: '1.1.5', share_bp: 500, started_at_ms: 0 } });
    const p = promoteConsequence(beta, prod);
    expect(p.title).toBe('Promote 1.2.0 from beta to production?');
    expect(p.lines[0]).toBe('Every device on production goes from 1.1.0 to 1.2.0 (what beta serves) at its next update check.');
    expect(p.lines).toContain('The 1.1.5 rollout on production (5 %) ends.');
  });

  it('history entries read as sentences', () => {
    expect(historySentence(entry('rollback', '1.0.2', '1.0.1'))).toBe('Rolled back from 1.0.2 to 1.0.1');
    expect(historySentence(entry('promote', null, '1.2.0'))).toBe('Promoted 1.2.0 (was nothing)');
  });
});
