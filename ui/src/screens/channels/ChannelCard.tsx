import { useState } from 'react';
import type { Bundle } from '../../bindings/Bundle';
import type { Channel } from '../../bindings/Channel';
import type { SettingsPatch } from '../../bindings/SettingsPatch';
import { formatShare, formatTime } from '../../lib/format';
import { ChannelHistory } from './ChannelHistory';
import { describeTarget, flagLabels, servesSentence } from './channelText';
import { FlagsEditor } from './FlagsEditor';

/** What the user asked to do; the screen confirms it in words, then sends it. */
export type Intent =
  | { kind: 'share'; channel: Channel; percent: number }
  | { kind: 'start'; channel: Channel; version: string; percent: number }
  | { kind: 'finish'; channel: Channel }
  | { kind: 'abort'; channel: Channel }
  | { kind: 'rollback'; channel: Channel; to: 'previous' | 'builtin' }
  | { kind: 'promote'; from: Channel; to: Channel }
  | { kind: 'flags'; channel: Channel; patch: SettingsPatch };

interface Props {
  app: string;
  channel: Channel;
  channels: Channel[];
  bundles: Bundle[];
  /** Why the token may not change this channel; null when it may. */
  denied: string | null;
  onIntent: (intent: Intent) => void;
}

/** One channel: what it serves, its rollout, flags, actions and history. */
export function ChannelCard({ app, channel, channels, bundles, denied, onIntent }: Props) {
  const [share, setShare] = useState(channel.rollout ? String(channel.rollout.share_bp / 100) : '10');
  const [startVersion, setStartVersion] = useState('');
  const [promoteFrom, setPromoteFrom] = useState('');
  const [showHistory, setShowHistory] = useState(false);
  const [editing, setEditing] = useState(false);
  const locked = denied !== null;
  const servedBundle = bundles.find((b) => b.version === channel.target);
  const others = channels.filter((c) => c.name !== channel.name && c.target !== null);
  const shareValue = Number(share);
  const shareValid = share.trim() !== '' && shareValue > 0 && shareValue <= 100;
  // One share field serves both the running rollout and a new one.
  const shareInput = (name: string) => (
    <input
      name={name}
      type="number"
      min={0.01}
      max={100}
      step="any"
      value={share}
      onChange={(e) => setShare(e.target.value)}
      disabled={locked}
    />
  );

  return (
    <section className="card channel" data-testid={`channel-${channel.name}`} aria-label={`Channel ${channel.name}`}>
      <header className="channel-head">
        <h2>{channel.name}</h2>
        <span className="muted">changed {formatTime(channel.updated_at_ms)}</span>
      </header>
      <p data-testid="serves">{servesSentence(channel)}</p>
      <dl className="facts">
        <div>
          <dt>Serves</dt>
          <dd data-testid="target">{describeTarget(channel.target)}</dd>
        </div>
        <div>
          <dt>Min native version</dt>
          <dd>{servedBundle?.min_native_version ?? (channel.target === 'builtin' ? 'n/a' : '—')}</dd>
        </div>
        {channel.rollout && (
          <div className="wide">
            <dt>Rollout</dt>
            <dd data-testid="rollout">
              {channel.rollout.version} to {formatShare(channel.rollout.share_bp)} of devices, since{' '}
              {formatTime(channel.rollout.started_at_ms)}
              <div className="progress-track" aria-hidden="true">
                <div className="progress-fill" style={{ width: `${channel.rollout.share_bp / 100}%` }} />
              </div>
            </dd>
          </div>
        )}
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
          </dd>
        </div>
      </dl>

      {denied && <p className="denied">{denied}</p>}

      {channel.rollout ? (
        <div className="toolbar">
          <label className="field inline">
            <span>Share %</span>
            {shareInput(`share-${channel.name}`)}
          </label>
          <button
            className="button"
            disabled={locked || !shareValid}
            onClick={() => onIntent({ kind: 'share', channel, percent: shareValue })}
          >
            Change share
          </button>
          <button className="button secondary" disabled={locked} onClick={() => onIntent({ kind: 'finish', channel })}>
            Finish rollout
          </button>
          <button className="button secondary" disabled={locked} onClick={() => onIntent({ kind: 'abort', channel })}>
            Abort rollout
          </button>
        </div>
      ) : (
        bundles.length > 0 && (
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
                  .filter((b) => b.version !== channel.target)
                  .map((b) => (
                    <option key={b.version} value={b.version}>
                      {b.version}
                    </option>
                  ))}
              </select>
            </label>
            <label className="field inline">
              <span>to %</span>
              {shareInput(`start-share-${channel.name}`)}
            </label>
            <button
              className="button secondary"
              disabled={locked || !startVersion || !shareValid}
              onClick={() => onIntent({ kind: 'start', channel, version: startVersion, percent: shareValue })}
            >
              Start rollout
            </button>
          </div>
        )
      )}

      <div className="toolbar">
        <button
          className="button secondary"
          disabled={locked || channel.target === null}
          onClick={() => onIntent({ kind: 'rollback', channel, to: 'previous' })}
        >
          Roll back to previous
        </button>
        <button
          className="button secondary"
          disabled={locked || channel.target === 'builtin'}
          onClick={() => onIntent({ kind: 'rollback', channel, to: 'builtin' })}
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
                  {c.name} ({describeTarget(c.target)})
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
