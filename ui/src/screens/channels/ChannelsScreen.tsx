import { useCallback, useState } from 'react';
import type { Bundle } from '../../bindings/Bundle';
import type { Channel } from '../../bindings/Channel';
import type { ProposedChange } from '../../bindings/ProposedChange';
import type { UiError } from '../../bindings/UiError';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { ErrorBanner } from '../../components/ErrorBanner';
import { FleetPreview } from '../../components/FleetPreview';
import { ScreenHead } from '../../components/ScreenHead';
import { useCurrentApp } from '../../lib/app';
import { toUiError, type Backend } from '../../lib/backend/backend';
import { useBackend } from '../../lib/backend/context';
import { deniedReason } from '../../lib/roles';
import { useSession } from '../../lib/session';
import { useLoad } from '../../lib/useLoad';
import { ChannelCard, type Intent } from './ChannelCard';
import {
  abortConsequence,
  type Consequence,
  finishConsequence,
  previousTarget,
  promoteConsequence,
  rollbackConsequence,
  widenConsequence,
} from './channelText';
import { describePatch } from './FlagsEditor';
import './channels.css';

/** A native line as the server's `min_native` parameter names it (`any`: no minimum). */
function lineParam(minNative: string | null): string {
  return minNative ?? 'any';
}

interface Pending {
  consequence: Consequence;
  /** The same change, as the fleet preview names it. */
  change: ProposedChange;
  run: () => Promise<Channel>;
  done: string;
}

/** The question to confirm and the call to make for an intent. */
async function plan(backend: Backend, app: string, intent: Intent, bundles: Bundle[]): Promise<Pending> {
  switch (intent.kind) {
    case 'share':
      return {
        consequence: widenConsequence(intent.channel, intent.lane, intent.percent),
        // 100 % finishes the rollout (as the backend does).
        change:
          intent.percent >= 100
            ? { kind: 'rollout_finish', channel: intent.channel.name, min_native: lineParam(intent.lane.min_native) }
            : {
                kind: 'rollout_change',
                channel: intent.channel.name,
                percent: intent.percent,
                min_native: lineParam(intent.lane.min_native),
              },
        run: () =>
          backend.changeRollout(
            app,
            intent.channel.name,
            { kind: 'percent', percent: intent.percent },
            lineParam(intent.lane.min_native),
          ),
        done: `The rollout on ${intent.channel.name} now reaches ${intent.percent} % of devices.`,
      };
    case 'start': {
      const line = bundles.find((b) => b.version === intent.version)?.min_native_version ?? null;
      return {
        consequence: {
          title: `Roll ${intent.version} out to ${intent.percent} % of ${intent.channel.name}?`,
          lines: [
            `${intent.percent} % of ${intent.channel.name}'s devices, always the same ones, will get ${intent.version} at their next update check.`,
            line === null
              ? `${intent.version} runs on any native version.`
              : `${intent.version} needs native ${line} or newer: only those devices can get it; older shells keep their own line.`,
          ],
          confirmLabel: 'Start rollout',
          danger: false,
        },
        change: {
          kind: 'rollout_start',
          channel: intent.channel.name,
          version: intent.version,
          percent: intent.percent,
          force: false,
          bundle: null,
        },
        run: () =>
          backend.changeRollout(app, intent.channel.name, {
            kind: 'start',
            version: intent.version,
            percent: intent.percent,
          }),
        done: `Rolling ${intent.version} out to ${intent.percent} % of ${intent.channel.name}.`,
      };
    }
    case 'finish':
      return {
        consequence: finishConsequence(intent.channel, intent.lane),
        change: { kind: 'rollout_finish', channel: intent.channel.name, min_native: lineParam(intent.lane.min_native) },
        run: () =>
          backend.changeRollout(app, intent.channel.name, { kind: 'finish' }, lineParam(intent.lane.min_native)),
        done: `Every device on ${intent.channel.name} now gets ${intent.lane.rollout?.version}.`,
      };
    case 'abort':
      return {
        consequence: abortConsequence(intent.channel, intent.lane),
        change: { kind: 'rollout_abort', channel: intent.channel.name, min_native: lineParam(intent.lane.min_native) },
        run: () =>
          backend.changeRollout(app, intent.channel.name, { kind: 'abort' }, lineParam(intent.lane.min_native)),
        done: `The rollout on ${intent.channel.name} was aborted.`,
      };
    case 'rollback': {
      const lane = intent.lane;
      if (lane === null) {
        return {
          consequence: rollbackConsequence(intent.channel, null, null),
          change: { kind: 'rollback', channel: intent.channel.name, to: 'builtin', min_native: null },
          run: () => backend.rollbackChannel(app, intent.channel.name, 'builtin', null),
          done: `${intent.channel.name} was rolled back.`,
        };
      }
      const previous = previousTarget(lane, await backend.channelHistory(app, intent.channel.name));
      if (previous === null) {
        throw { code: 'invalid_input', message: `${intent.channel.name} has no earlier bundle to roll back to.` };
      }
      return {
        consequence: rollbackConsequence(intent.channel, lane, previous),
        change: { kind: 'rollback', channel: intent.channel.name, to: 'previous', min_native: lineParam(lane.min_native) },
        run: () => backend.rollbackChannel(app, intent.channel.name, 'previous', lineParam(lane.min_native)),
        done: `${intent.channel.name} was rolled back.`,
      };
    }
    case 'promote':
      return {
        consequence: promoteConsequence(intent.from, intent.to),
        change: { kind: 'promote', from: intent.from.name, to: intent.to.name },
        run: () => backend.promoteChannel(app, intent.from.name, intent.to.name),
        done: `${intent.to.name} now serves what ${intent.from.name} serves.`,
      };
    case 'flags':
      return {
        consequence: {
          title: `Change the settings of ${intent.channel.name}?`,
          lines: [
            ...describePatch(intent.channel, intent.patch),
            'Devices that no longer match the channel stop getting its bundles at their next update check.',
          ],
          confirmLabel: 'Save settings',
          danger: false,
        },
        change: { kind: 'settings', channel: intent.channel.name, settings: intent.patch },
        run: () => backend.updateChannel(app, intent.channel.name, intent.patch),
        done: `The settings of ${intent.channel.name} were saved.`,
      };
  }
}

/** Every channel of the app with its rollout, flags and history, and the release actions. */
export function ChannelsScreen() {
  const backend = useBackend();
  const app = useCurrentApp();
  const session = useSession();
  const load = useLoad<{ channels: Channel[]; bundles: Bundle[] }>(async () => {
    if (!app) return { channels: [], bundles: [] };
    const [channels, bundles] = await Promise.all([backend.listChannels(app), backend.listBundles(app)]);
    return { channels, bundles };
  }, app ?? '');
  const [pending, setPending] = useState<Pending | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<UiError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [refreshes, setRefreshes] = useState(0);
  const denied = deniedReason(session?.role ?? 'viewer', 'release');

  const onIntent = useCallback(
    (intent: Intent) => {
      if (!app) return;
      setError(null);
      setNotice(null);
      plan(backend, app, intent, load.data?.bundles ?? []).then(setPending, (e) => setError(toUiError(e)));
    },
    [app, backend, load.data],
  );

  async function confirm() {
    if (!pending) return;
    setBusy(true);
    try {
      await pending.run();
      setNotice(pending.done);
      load.reload();
    } catch (e) {
      setError(toUiError(e));
    } finally {
      setBusy(false);
      setPending(null);
    }
  }

  return (
    <div className="screen">
      <ScreenHead
        title="Channels"
        purpose="What each channel serves, its rollout and its switches. Every change is confirmed first."
        onRefresh={() => {
          setRefreshes((n) => n + 1);
          load.reload();
        }}
        busy={load.loading}
      />
      {!app && <p className="notice">Connect to a server and pick an app to see its channels.</p>}
      {notice && (
        <p className="notice success" role="status" data-testid="channel-notice">
          {notice}
        </p>
      )}
      {error && <ErrorBanner error={error} />}
      {load.error && <ErrorBanner error={load.error} onRetry={load.reload} />}
      {app && load.loading && !load.data && <p className="muted">Loading…</p>}
      {load.data?.channels.map((channel) => (
        <ChannelCard
          key={`${channel.name}/${channel.revision}`}
          app={app!}
          channel={channel}
          channels={load.data!.channels}
          bundles={load.data!.bundles}
          denied={denied}
          refreshes={refreshes}
          onIntent={onIntent}
        />
      ))}
      {pending && (
        <ConfirmDialog
          title={pending.consequence.title}
          confirmLabel={pending.consequence.confirmLabel}
          danger={pending.consequence.danger}
          busy={busy}
          onConfirm={confirm}
          onCancel={() => setPending(null)}
        >
          {pending.consequence.lines.map((line) => (
            <p key={line}>{line}</p>
          ))}
          <FleetPreview app={app!} change={pending.change} />
        </ConfirmDialog>
      )}
    </div>
  );
}
