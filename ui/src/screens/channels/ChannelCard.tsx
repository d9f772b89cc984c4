import { useState } from 'react';
import type { Bundle } from '../../bindings/Bundle';
import type { Channel } from '../../bindings/Channel';
import type { Lane } from '../../bindings/Lane';
import type { SettingsPatch } from '../../bindings/SettingsPatch';
import { formatShare, formatTime } from '../../lib/format';
import { describeLine } from '../../lib/lanes';
import { ChannelHistory } from './ChannelHistory';
import { describeTarget, flagLabels, servesSentence } from './channelText';
import { FlagsEditor } from './FlagsEditor';
import { PlanPanel } from './PlanPanel';

/**
 * What the user asked to do; the screen confirms it in words, then sends it. Rollout and
 * rollback intents name the native line they act on; a rollback without one sends every line
 * to the store build.
 */
export type Intent =
  | { kind: 'share'; channel: Channel; lane: Lane; percent: number }
  | { kind: 'start'; channel: Channel; version: string; percent: number }
  | { kind: 'finish'; channel: Channel; lane: Lane }
  | { kind: 'abort'; channel: Channel; lane: Lane }
  | { kind: 'rollback'; channel: Channel; lane: Lane | null }
  | { kind: 'promote'; from: Channel; to: Channel }
  | { kind: 'flags'; channel: Channel; patch: SettingsPatch };

interface Props {
  app: string;
  channel: Channel;
  channels: Channel[];
  bundles: Bundle[];
  /** Why the token may not change this channel; null when it may. */
  denied: string | null;
  /** Bumped by the screen's Refresh: the plan is read again (the server pauses a plan by itself,
   * without changing the channel's revision). */
  refreshes: number;
  onIntent: (intent: Intent) => void;
}

/** One native line of a channel: what it serves, its rollout and the line's actions. */
function LaneBlock({
  channel,
  lane,
  several,
  locked,
  bundles,
  onIntent,
}: {
  channel: Channel;
  lane: Lane;
  several: boolean;
  locked: boolean;
  bundles: Bundle[];
  onIntent: (intent: Intent) => void;
}) {
  const [share, setShare] = useState(lane.rollout ? String(lane.rollout.share_bp / 100) : '10');
  const shareValue = Number(share);
  const shareValid = share.trim() !== '' && shareValue > 0 && shareValue <= 100;
  const key = lane.min_native ?? 'any';
  const servedBundle = bundles.find((b) => b.version === lane.target);
  return (
    <div className="lane" data-testid={`lane-${key}`} aria-label={describeLine(lane.min_native)}>
      {several && <h3 className="lane-head">{describeLine(lane.min_native)}</h3>}
      <dl className="facts">
        <div>
          <dt>Serves</dt>
          <dd data-testid="target">{describeTarget(lane.target)}</dd>
        </div>
        <div>
          <dt>Min native version</dt>
          <dd>{servedBundle?.min_native_version ?? lane.min_native ?? (lane.target === 'builtin' ? 'n/a' : '—')}</dd>
        </div>
        {lane.rollout && (
          <div className="wide">
            <dt>Rollout</dt>
            <dd data-testid="rollout">
              {lane.rollout.version} to {formatShare(lane.rollout.share_bp)} of devices, since{' '}
              {formatTime(lane.rollout.started_at_ms)}
              <div className="progress-track" aria-hidden="true">
                <div className="progress-fill" style={{ width: `${lane.rollout.share_bp / 100}%` }} />
              </div>
            </dd>
          </div>
        )}
      </dl>
      <div className="toolbar">
        {lane.rollout && (
          <>
            <label className="field inline">
              <span>Share %</span>
              <input
                name={several ? `share-${channel.name}-${key}` : `share-${channel.name}`}
                type="number"
                min={0.01}
                max={100}
                step="any"
                value={share}
                onChange={(e) => setShare(e.target.value)}
                disabled={locked}
              />
            </label>
            <button
              className="button"
              disabled={locked || !shareValid}
              onClick={() => onIntent({ kind: 'share', channel, lane, percent: shareValue })}
            >
              Change share
            </button>
            <button className="button secondary" disabled={locked} onClick={() => onIntent({ kind: 'finish', channel, lane })}>
              Finish rollout
            </button>
            <button className="button secondary" disabled={locked} onClick={() => onIntent({ kind: 'abort', channel, lane })}>
              Abort rollout
            </button>
          </>
        )}
        <button
          className="button secondary"
          disabled={locked || lane.target === null}
          onClick={() => onIntent({ kind: 'rollback', channel, lane })}
        >
          Roll back to previous
        </button>
      </div>
    </div>
  );
}

/** One channel: what it serves per native line, rollouts, flags, actions and history. */
export function ChannelCard({ app, channel, channels, bundles, denied, refreshes, onIntent }: Props) {
  const [share, setShare] = useState('10');
  const [startVersion, setStartVersion] = useState('');
  const [promoteFrom, setPromoteFrom] = useState('');
  const [showHistory, setShowHistory] = useState(false);
  const [editing, setEditing] = useState(false);
  const locked = denied !== null;
  const several = channel.lanes.length > 1;
  const others = channels.filter((c) => c.name !== channel.name && c.lanes.some((l) => l.target !== null));
  const served = new Set(channel.lanes.flatMap((l) => [l.target, l.rollout?.version]));
  const shareValue = Number(share);
  const shareValid = share.trim() !== '' && shareValue > 0 && shareValue <= 100;
  const allBuiltin = channel.lanes.length > 0 && channel.lanes.every((l) => l.target === 'builtin');

  return (
    <section className="card channel" data-testid={`channel-${channel.name}`} aria-label={`Channel ${channel.name}`}>
      <header className="channel-head">
        <h2>{channel.name}</h2>
        <span className="muted">changed {formatTime(channel.updated_at_ms)}</span>
      </header>
      <p data-testid="serves">{servesSentence(channel)}</p>
      {denied && <p className="denied">{denied}</p>}
      {channel.lanes.map((lane) => (
        <LaneBlock
          key={lane.min_native ?? 'any'}
          channel={channel}
          lane={lane}
          several={several}
          locked={locked}
          bundles={bundles}
          onIntent={onIntent}
        />
      ))}
      <PlanPanel key={refreshes} app={app} channel={channel} locked={locked} />
      <dl className="facts">
        <div className="wide">
          <dt>Switches</dt>
          <dd>
            {flagLabels(channel).map((flag) => (
              <span key={flag.label} className={flag.on ? 'tag on' : 'tag'} title={flag.title}>
                {flag.on ? '' : 'no '}
                {flag.label}
              </span>
            ))}
            <span className="tag on" title="How far a bundle's version may move from the native version">
              versions: {channel.strategy === 'none' ? 'any' : `same ${channel.strategy}`}
            </span>
            <span
              className={channel.guard ? 'tag on' : 'tag'}
              data-testid="guard"
              title="The guard pauses or rolls back a served bundle whose failure rate is over the threshold with confidence"
            >
              {channel.guard ? `guard: ${channel.guard_action} over ${formatShare(channel.guard_threshold_bp)}` : 'no guard'}
            </span>
          </dd>
        </div>
      </dl>

      {bundles.length > 0 && (
        <div className="toolbar">
          <label className="field inline">
            <span>Roll out</span>
            <select
              name={`start-version-${channel.name}`}
              value={startVersion}
              onChange={(e) => setStartVersion(e.target.value)}
              disabled={locked}
            >
              <option value="">a bundle…</option>
              {bundles
                .filter((b) => !served.has(b.version))
                .map((b) => (
                  <option key={b.version} value={b.version}>
                    {b.version}
                    {b.min_native_version ? ` (native ${b.min_native_version}+)` : ''}
                  </option>
                ))}
            </select>
          </label>
          <label className="field inline">
            <span>to %</span>
            <input
              name={`start-share-${channel.name}`}
              type="number"
              min={0.01}
              max={100}
              step="any"
              value={share}
              onChange={(e) => setShare(e.target.value)}
              disabled={locked}
            />
          </label>
          <button
            className="button secondary"
            disabled={locked || !startVersion || !shareValid}
            onClick={() => onIntent({ kind: 'start', channel, version: startVersion, percent: shareValue })}
          >
            Start rollout
          </button>
        </div>
      )}

      <div className="toolbar">
        <button
          className="button secondary"
          disabled={locked || allBuiltin}
          onClick={() => onIntent({ kind: 'rollback', channel, lane: null })}
        >
          Roll back to store build
        </button>
        {others.length > 0 && (
          <>
            <select
              name={`promote-from-${channel.name}`}
              aria-label={`Promote to ${channel.name} from`}
              value={promoteFrom}
              onChange={(e) => setPromoteFrom(e.target.value)}
              disabled={locked}
            >
              <option value="">Promote from…</option>
              {others.map((c) => (
                <option key={c.name} value={c.name}>
                  {c.name} ({describeLanes(c)})
                </option>
              ))}
            </select>
            <button
              className="button secondary"
              disabled={locked || !promoteFrom}
              onClick={() => {
                const from = channels.find((c) => c.name === promoteFrom);
                if (from) onIntent({ kind: 'promote', from, to: channel });
              }}
            >
              Promote
            </button>
          </>
        )}
      </div>

      <div className="toolbar">
        <button className="button secondary" aria-expanded={showHistory} onClick={() => setShowHistory(!showHistory)}>
          {showHistory ? 'Hide history' : 'History'}
        </button>
        <button className="button secondary" disabled={locked} aria-expanded={editing} onClick={() => setEditing(!editing)}>
          Edit settings
        </button>
      </div>
      {editing && (
        <FlagsEditor
          channel={channel}
          onCancel={() => setEditing(false)}
          onSave={(patch) => {
            setEditing(false);
            onIntent({ kind: 'flags', channel, patch });
          }}
        />
      )}
      {showHistory && <ChannelHistory app={app} channel={channel.name} revision={channel.revision} />}
    </section>
  );
}

/** What a channel serves in a few words, for a menu: "1.0.2", or "1.4.1 / 2.0.0". */
function describeLanes(channel: Channel): string {
  return channel.lanes.map((l) => describeTarget(l.target)).join(' / ');
}
