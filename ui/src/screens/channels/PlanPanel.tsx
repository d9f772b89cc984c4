import { useState } from 'react';
import type { Channel } from '../../bindings/Channel';
import type { CreatePlan } from '../../bindings/CreatePlan';
import type { FailureAction } from '../../bindings/FailureAction';
import type { PlanAction } from '../../bindings/PlanAction';
import type { PlanView } from '../../bindings/PlanView';
import { ErrorBanner } from '../../components/ErrorBanner';
import type { UiError } from '../../bindings/UiError';
import { toUiError } from '../../lib/backend/backend';
import { useBackend } from '../../lib/backend/context';
import { formatShare, formatTime } from '../../lib/format';
import { useLoad } from '../../lib/useLoad';

/** The plan form's fields, as typed. */
export interface PlanForm {
  version: string;
  steps: string;
  hours: string;
  minDevices: string;
  maxFailure: string;
  onFailure: FailureAction;
}

/** The request of a filled-in form, or why it cannot be sent. */
export function planRequest(form: PlanForm): CreatePlan | string {
  if (!form.version.trim()) return 'Choose the bundle to roll out.';
  const steps = form.steps.split(',').map((s) => Number(s.trim().replace(/%$/, '')));
  if (steps.length < 2 || steps.some((s) => !(s > 0 && s <= 100))) return 'Steps are percentages such as 1, 10, 50, 100.';
  if (steps.some((s, i) => i > 0 && s <= steps[i - 1])) return 'Each step must be larger than the one before.';
  if (steps[steps.length - 1] !== 100) return 'The last step must be 100 % (every device).';
  const hours = Number(form.hours);
  if (!(hours >= 0) || form.hours.trim() === '') return 'The wait is a number of hours.';
  const minDevices = Number(form.minDevices);
  if (!Number.isInteger(minDevices) || minDevices < 0) return 'The least number of devices is a whole number.';
  const maxFailure = Number(form.maxFailure.trim().replace(/%$/, ''));
  if (!(maxFailure > 0 && maxFailure <= 100)) return 'The failure threshold is a percentage above 0.';
  return {
    version: form.version.trim(),
    steps,
    every_ms: Math.round(hours * 3_600_000),
    force: false,
    min_devices: minDevices,
    max_failure_rate: maxFailure,
    on_failure: form.onFailure,
  };
}

/** A plan's steps with the current one marked: "1 % → [10 %] → 50 % → 100 %". */
export function stepsText(view: PlanView): string {
  return view.plan.steps_bp.map((bp, i) => (i === view.plan.step ? `[${formatShare(bp)}]` : formatShare(bp))).join(' → ');
}

/** A channel's rollout plan: its progress, next step and why it stopped, or a form to start one. */
export function PlanPanel({ app, channel, locked }: { app: string; channel: Channel; locked: boolean }) {
  const backend = useBackend();
  const loaded = useLoad<PlanView | null>(() => backend.channelPlan(app, channel.name), `${app}/${channel.name}/${channel.revision}`);
  const rolling = channel.lanes.find((l) => l.rollout)?.rollout?.version ?? '';
  const [form, setForm] = useState<PlanForm>({
    version: rolling,
    steps: '1, 10, 50, 100',
    hours: '6',
    minDevices: '100',
    maxFailure: '2',
    onFailure: 'pause',
  });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<UiError | null>(null);
  const [shown, setShown] = useState<PlanView | null>(null);
  const view = shown ?? loaded.data;
  const request = planRequest(form);

  async function act(call: () => Promise<PlanView>) {
    setBusy(true);
    setError(null);
    try {
      setShown(await call());
    } catch (e) {
      setError(toUiError(e));
    } finally {
      setBusy(false);
    }
  }

  if (loaded.error) return <ErrorBanner error={loaded.error} onRetry={loaded.reload} />;
  if (loaded.loading && !view) return <p className="muted">Loading the rollout plan…</p>;
  const current = view && (view.plan.status === 'active' || view.plan.status === 'paused') ? view : null;
  const set = (patch: Partial<PlanForm>) => setForm({ ...form, ...patch });
  const change = (action: PlanAction) => act(() => backend.changePlan(app, channel.name, action));

  return (
    <div className="plan" data-testid={`plan-${channel.name}`}>
      <h3>Rollout plan</h3>
      {error && <ErrorBanner error={error} />}
      {view && (
        <dl className="facts">
          <div>
            <dt>Plan</dt>
            <dd data-testid="plan-status">
              {view.plan.version}: {view.plan.status.replace('_', ' ')}
            </dd>
          </div>
          <div>
            <dt>Steps</dt>
            <dd data-testid="plan-steps">{stepsText(view)}</dd>
          </div>
          <div>
            <dt>Next step</dt>
            <dd data-testid="plan-next">{view.next_step_at_ms === null ? '—' : formatTime(view.next_step_at_ms)}</dd>
          </div>
          <div>
            <dt>Rule</dt>
            <dd>
              every {view.plan.every_ms / 3_600_000} h, at least {view.plan.min_devices} installs, {view.plan.on_failure}{' '}
              over {formatShare(view.plan.max_failure_bp)} failures
            </dd>
          </div>
          {view.plan.reason && (
            <div className="wide">
              <dt>Why</dt>
              <dd data-testid="plan-reason">{view.plan.reason}</dd>
            </div>
          )}
          {view.health && (
            <div className="wide">
              <dt>Health</dt>
              <dd data-testid="plan-health">{view.health.summary}</dd>
            </div>
          )}
        </dl>
      )}
      {current ? (
        <div className="toolbar">
          {current.plan.status === 'active' ? (
            <button className="button secondary" disabled={locked || busy} onClick={() => change('pause')}>
              Pause plan
            </button>
          ) : (
            <button className="button secondary" disabled={locked || busy} onClick={() => change('resume')}>
              Resume plan
            </button>
          )}
          <button className="button secondary" disabled={locked || busy} onClick={() => change('cancel')}>
            Cancel plan
          </button>
        </div>
      ) : (
        <form
          className="toolbar wrap"
          onSubmit={(e) => {
            e.preventDefault();
            if (typeof request !== 'string') void act(() => backend.createPlan(app, channel.name, request));
          }}
        >
          <label className="field inline">
            <span>Bundle</span>
            <input name={`plan-version-${channel.name}`} value={form.version} onChange={(e) => set({ version: e.target.value })} disabled={locked} />
          </label>
          <label className="field inline">
            <span>Steps %</span>
            <input name={`plan-steps-${channel.name}`} value={form.steps} onChange={(e) => set({ steps: e.target.value })} disabled={locked} />
          </label>
          <label className="field inline">
            <span>Wait (hours)</span>
            <input name={`plan-hours-${channel.name}`} value={form.hours} onChange={(e) => set({ hours: e.target.value })} disabled={locked} />
          </label>
          <label className="field inline">
            <span>Min devices</span>
            <input name={`plan-min-devices-${channel.name}`} value={form.minDevices} onChange={(e) => set({ minDevices: e.target.value })} disabled={locked} />
          </label>
          <label className="field inline">
            <span>Max failures %</span>
            <input name={`plan-max-failure-${channel.name}`} value={form.maxFailure} onChange={(e) => set({ maxFailure: e.target.value })} disabled={locked} />
          </label>
          <label className="field inline">
            <span>On failure</span>
            <select
              name={`plan-on-failure-${channel.name}`}
              value={form.onFailure}
              onChange={(e) => set({ onFailure: e.target.value as FailureAction })}
              disabled={locked}
            >
              <option value="pause">pause (hold the share)</option>
              <option value="rollback">roll back</option>
            </select>
          </label>
          <button className="button" type="submit" disabled={locked || busy || typeof request === 'string'} title={typeof request === 'string' ? request : undefined}>
            Start plan
          </button>
          {typeof request === 'string' && form.version.trim() !== '' && <span className="muted">{request}</span>}
        </form>
      )}
    </div>
  );
}
