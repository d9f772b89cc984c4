import { useState } from 'react';
import type { Channel } from '../../bindings/Channel';
import type { SettingsPatch } from '../../bindings/SettingsPatch';
import type { Strategy } from '../../bindings/Strategy';
import { CHANNEL_SWITCHES } from '../../bindings/channelSwitches';

type Flag = Exclude<keyof SettingsPatch, 'strategy'>;

// Every on/off switch the server has, in its order and its words (generated from Rust); the
// strategy has its own select below.
const FLAGS: { key: Flag; label: string }[] = CHANNEL_SWITCHES.filter(({ key }) => key !== 'strategy').map(
  ({ key, description }) => ({ key: key as Flag, label: description.replace(/\.$/, '') }),
);

const STRATEGIES: { value: Strategy; label: string }[] = [
  { value: 'none', label: 'Any version (MIN_NATIVE_VERSION decides)' },
  { value: 'major', label: 'Same major version as the native app' },
  { value: 'minor', label: 'Same minor version' },
  { value: 'patch', label: 'Same patch version' },
];

function emptyPatch(): SettingsPatch {
  return {};
}

/** The changes from `channel` to the edited values, in words; empty when nothing changed. */
export function describePatch(channel: Channel, patch: SettingsPatch): string[] {
  const lines: string[] = [];
  for (const { key, label } of FLAGS) {
    const value = patch[key];
    if (value != null && value !== channel[key]) lines.push(`${label}: ${value ? 'on' : 'off'}`);
  }
  if (patch.strategy != null && patch.strategy !== channel.strategy) {
    lines.push(`Version rule: ${STRATEGIES.find((s) => s.value === patch.strategy)?.label}`);
  }
  return lines;
}

/** Checkboxes for a channel's switches; Save hands the patch up for confirmation. */
export function FlagsEditor({
  channel,
  onSave,
  onCancel,
}: {
  channel: Channel;
  onSave: (patch: SettingsPatch) => void;
  onCancel: () => void;
}) {
  const [patch, setPatch] = useState<SettingsPatch>(emptyPatch);
  const changes = describePatch(channel, patch);
  return (
    <form
      className="flags-editor"
      aria-label={`Settings of ${channel.name}`}
      onSubmit={(event) => {
        event.preventDefault();
        onSave(patch);
      }}
    >
      {FLAGS.map(({ key, label }) => (
        <label key={key} className="check">
          <input
            type="checkbox"
            name={`flag-${key}`}
            checked={patch[key] ?? channel[key]}
            onChange={(e) => setPatch({ ...patch, [key]: e.target.checked })}
          />
          {label}
        </label>
      ))}
      <label className="field">
        <span>Version rule</span>
        <select
          name="strategy"
          value={patch.strategy ?? channel.strategy}
          onChange={(e) => setPatch({ ...patch, strategy: e.target.value as Strategy })}
        >
          {STRATEGIES.map((s) => (
            <option key={s.value} value={s.value}>
              {s.label}
            </option>
          ))}
        </select>
      </label>
      <div className="actions">
        <button type="button" className="button secondary" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="button" disabled={changes.length === 0}>
          Save settings
        </button>
      </div>
    </form>
  );
}
