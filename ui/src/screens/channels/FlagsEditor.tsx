import { useState } from 'react';
import type { Channel } from '../../bindings/Channel';
import type { SettingsPatch } from '../../bindings/SettingsPatch';
import type { Delivery } from '../../bindings/Delivery';
import type { FailureAction } from '../../bindings/FailureAction';
import type { Strategy } from '../../bindings/Strategy';
import { CHANNEL_SWITCHES } from '../../bindings/channelSwitches';

type Flag = Exclude<keyof SettingsPatch, 'strategy' | 'delivery' | 'guard_threshold_bp' | 'guard_action'>;

// Every on/off switch the server has, in its order and its words (generated from Rust); the
// strategy and the delivery have their own selects below.
const FLAGS: { key: Flag; label: string }[] = CHANNEL_SWITCHES.filter(
  ({ key }) => key !== 'strategy' && key !== 'delivery' && key !== 'guard_threshold_bp' && key !== 'guard_action',
).map(({ key, description }) => ({ key: key as Flag, label: description.replace(/\.$/, '') }));

const DELIVERIES: { value: Delivery; label: string }[] = [
  { value: 'delta', label: 'Changed files only where the plugin supports it (6.25+, 7.0.35+, 8+), else the zip' },
  { value: 'zip', label: 'The whole zip to every device' },
];

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
  if (patch.delivery != null && patch.delivery !== channel.delivery) {
    lines.push(`Downloads: ${DELIVERIES.find((d) => d.value === patch.delivery)?.label}`);
  }
  if (patch.guard_threshold_bp != null && patch.guard_threshold_bp !== channel.guard_threshold_bp) {
    lines.push(`Guard threshold: ${patch.guard_threshold_bp / 100} % of install attempts`);
  }
  if (patch.guard_action != null && patch.guard_action !== channel.guard_action) {
    lines.push(`Guard action: ${patch.guard_action === 'pause' ? 'pause' : 'roll back'}`);
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
      <label className="field">
        <span>Downloads</span>
        <select
          name="delivery"
          value={patch.delivery ?? channel.delivery}
          onChange={(e) => setPatch({ ...patch, delivery: e.target.value as Delivery })}
        >
          {DELIVERIES.map((d) => (
            <option key={d.value} value={d.value}>
              {d.label}
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        <span>Guard threshold (% of install attempts)</span>
        <input
          name="guard_threshold"
          type="number"
          min={0.01}
          max={100}
          step="any"
          value={(patch.guard_threshold_bp ?? channel.guard_threshold_bp) / 100}
          onChange={(e) => {
            const percent = Number(e.target.value);
            if (percent > 0 && percent <= 100) setPatch({ ...patch, guard_threshold_bp: Math.round(percent * 100) });
          }}
        />
      </label>
      <label className="field">
        <span>Guard action</span>
        <select
          name="guard_action"
          value={patch.guard_action ?? channel.guard_action}
          onChange={(e) => setPatch({ ...patch, guard_action: e.target.value as FailureAction })}
        >
          <option value="rollback">Roll the failing bundle back</option>
          <option value="pause">Pause (hold a rollout's share)</option>
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
