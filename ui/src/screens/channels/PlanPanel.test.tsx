// The rollout plan panel against a scripted Backend: a plan's progress and next step, a paused
// plan's reason, and the plan a filled-in form sends (or why it sends nothing).
import { cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { CreatePlan } from '../../bindings/CreatePlan';
import type { PlanView } from '../../bindings/PlanView';
import type { Backend } from '../../lib/backend/backend';
import { BackendProvider } from '../../lib/backend/context';
import { formatTime } from '../../lib/format';
import { makePlanView } from '../../test/fixtures';
import { unusedBackend } from '../../test/backends';
import { channel } from './fixtures';
import { PlanPanel } from './PlanPanel';

const APP = 'com.example.app';

/** A backend whose channel has `plan` (or none), recording the plans it is asked to create. */
function scripted(plan: PlanView | null) {
  const created: CreatePlan[] = [];
  const backend: Backend = {
    ...unusedBackend,
    channelPlan: async () => plan,
    createPlan: async (_app, _channel, request) => {
      created.push(request);
      return makePlanView({ version: request.version });
    },
  };
  return { backend, created };
}

function renderPanel(backend: Backend) {
  render(
    <BackendProvider backend={backend}>
      <PlanPanel app={APP} channel={channel({ rollout: { version: '1.1.0', share_bp: 1_000, started_at_ms: 0 } })} locked={false} />
    </BackendProvider>,
  );
}

function input(name: string): HTMLInputElement {
  const found = document.querySelector<HTMLInputElement>(`[name=${name}]`);
  if (!found) throw new Error(`no input ${name}`);
  return found;
}

afterEach(cleanup);

describe('PlanPanel', () => {
  it('shows a plan in progress: its step and when the next is due', async () => {
    const { backend } = scripted(makePlanView());
    renderPanel(backend);
    const panel = await screen.findByTestId('plan-production');
    expect(within(panel).getByTestId('plan-status').textContent).toBe('1.1.0: active');
    expect(within(panel).getByTestId('plan-steps').textContent).toBe('[10 %] → 50 % → 100 %');
    expect(within(panel).getByTestId('plan-next').textContent).toBe(formatTime(1_800_003_600_000));
    expect(within(panel).queryByTestId('plan-reason')).toBeNull();
    expect(within(panel).getByRole('button', { name: 'Pause plan' })).toBeTruthy();
  });

  it('shows a paused plan with the reason, no next step, and a resume', async () => {
    const reason = 'paused: step 1 (10 %): 1.1.0 on `production` is failing: 12 failures in 12 attempts';
    const { backend } = scripted(makePlanView({ status: 'paused', reason }, { next_step_at_ms: null }));
    renderPanel(backend);
    const panel = await screen.findByTestId('plan-production');
    expect(within(panel).getByTestId('plan-status').textContent).toBe('1.1.0: paused');
    expect(within(panel).getByTestId('plan-reason').textContent).toBe(reason);
    expect(within(panel).getByTestId('plan-next').textContent).toBe('—');
    expect(within(panel).getByRole('button', { name: 'Resume plan' })).toBeTruthy();
    expect(within(panel).queryByRole('button', { name: 'Pause plan' })).toBeNull();
  });

  it('starts a plan with the steps as typed', async () => {
    const { backend, created } = scripted(null);
    renderPanel(backend);
    await screen.findByRole('button', { name: 'Start plan' });
    expect(input('plan-version-production').value).toBe('1.1.0');
    fireEvent.change(input('plan-steps-production'), { target: { value: '10, 50%, 100' } });
    fireEvent.change(input('plan-hours-production'), { target: { value: '1.5' } });
    fireEvent.change(input('plan-min-devices-production'), { target: { value: '20' } });
    fireEvent.change(input('plan-max-failure-production'), { target: { value: '5' } });
    fireEvent.change(document.querySelector('[name=plan-on-failure-production]')!, { target: { value: 'rollback' } });
    fireEvent.click(screen.getByRole('button', { name: 'Start plan' }));
    expect((await screen.findByTestId('plan-status')).textContent).toBe('1.1.0: active');
    expect(created).toEqual([
      {
        version: '1.1.0',
        steps: [10, 50, 100],
        every_ms: 5_400_000,
        force: false,
        min_devices: 20,
        max_failure_rate: 5,
        on_failure: 'rollback',
      },
    ]);
  });

  it('says what is wrong with a bad step list and sends nothing', async () => {
    const { backend, created } = scripted(null);
    renderPanel(backend);
    const start = await screen.findByRole('button', { name: 'Start plan' });
    for (const [steps, why] of [
      ['10, 5, 100', 'Each step must be larger than the one before.'],
      ['10, 50', 'The last step must be 100 % (every device).'],
      ['ten, 100', 'Steps are percentages such as 1, 10, 50, 100.'],
    ]) {
      fireEvent.change(input('plan-steps-production'), { target: { value: steps } });
      expect(screen.getByText(why)).toBeTruthy();
      expect((start as HTMLButtonElement).disabled).toBe(true);
      fireEvent.submit(start.closest('form')!);
    }
    expect(created).toEqual([]);
    expect(screen.queryByTestId('plan-status')).toBeNull();
  });
});
