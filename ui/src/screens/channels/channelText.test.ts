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

function entry(action: HistoryAction, before: string | null, after: string | null, min_native: string | null = null): HistoryEntry {
  return {
    id: 0,
    channel: 'production',
    min_native,
    action,
    target_before: before,
    target_after: after,
    rollout_before: null,
    rollout_after: null,
    actor: 'ci',
    at_ms: 0,
    reason: null,
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

  it('speaks in native lines when a channel has several', () => {
    const c = channel({
      lanes: [
        { min_native: '2.0.0', target: '2.0.0', rollout: { version: '2.1.0', share_bp: 1000, started_at_ms: 0 } },
        { min_native: '1.0.0', target: '1.4.1', rollout: null },
      ],
    });
    expect(servesSentence(c)).toBe(
      'Serves native 2.0.0+: 2.1.0 to 10 % of devices, 2.0.0 to the rest; native 1.0.0+: 1.4.1 to every device. Each device gets the newest bundle its native version can run.',
    );
    expect(widenConsequence(c, c.lanes[0], 50).title).toBe('Widen the 2.1.0 rollout on production on native 2.0.0+ to 50 %?');
    expect(rollbackConsequence(c, c.lanes[1], '1.4.0').title).toBe('Roll production on native 1.0.0+ back to 1.4.0?');
    expect(historySentence(entry('publish', '1.4.0', '1.4.1', '1.0.0'))).toBe('native 1.0.0+: Published 1.4.1 (was 1.4.0)');
  });

  it('finds the previous target of a line like the server, skipping rollbacks and other lines', () => {
    // Newest first: 1.0.0 → 1.0.1 → 1.0.2, then a rollback to 1.0.1; 2.0.0 on another line between.
    const history = [
      entry('rollback', '1.0.2', '1.0.1'),
      entry('publish', '1.0.1', '1.0.2'),
      entry('publish', '1.0.1', '2.0.0', '2.0.0'),
      entry('publish', '1.0.0', '1.0.1'),
    ];
    expect(previousTarget(channel({ target: '1.0.1' }).lanes[0], history)).toBe('1.0.0');
    expect(previousTarget(channel({ target: '1.0.0' }).lanes[0], [entry('publish', null, '1.0.0')])).toBeNull();
  });

  it('spells out what a rollback changes for which devices', () => {
    const c = channel({ target: '1.0.2', rollout: { version: '1.1.0', share_bp: 2500, started_at_ms: 0 } });
    const back = rollbackConsequence(c, c.lanes[0], '1.0.1');
    expect(back.title).toBe('Roll production back to 1.0.1?');
    expect(back.lines[0]).toBe('Every device on production goes from 1.0.2 to 1.0.1 at its next update check.');
    expect(back.lines).toContain('The 1.1.0 rollout (25 %) ends.');
    expect(back.danger).toBe(true);
    const store = rollbackConsequence(c, null, null);
    expect(store.title).toBe('Roll production back to the store build?');
    expect(store.lines.join(' ')).toMatch(/drop their live-update bundle/);
    expect(store.lines).toContain('The 1.1.0 rollout (25 %) ends.');
  });

  it('widening and narrowing say which share changes', () => {
    const c = channel({ rollout: { version: '1.1.0', share_bp: 1000, started_at_ms: 0 } });
    expect(widenConsequence(c, c.lanes[0], 50).title).toBe('Widen the 1.1.0 rollout on production to 50 %?');
    expect(widenConsequence(c, c.lanes[0], 5).confirmLabel).toBe('Narrow rollout');
    expect(abortConsequence(c, c.lanes[0]).lines[1]).toMatch(/sent back to 1.0.0/);
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
