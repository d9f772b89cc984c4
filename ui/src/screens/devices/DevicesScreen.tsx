import { useCallback, useEffect, useRef, useState } from 'react';
import { ErrorBanner } from '../../components/ErrorBanner';
import { ScreenHead } from '../../components/ScreenHead';
import { toUiError } from '../../lib/backend/backend';
import { useBackend } from '../../lib/backend/context';
import { useCurrentApp } from '../../lib/app';
import { useLoad } from '../../lib/useLoad';
import { DeviceDetailView } from './DeviceDetailView';
import { DeviceResults, type SearchState } from './DeviceResults';
import { DeviceSearch } from './DeviceSearch';
import { directMatch, emptyForm, toFilter, type SearchForm } from './search';
import './devices.css';

/** Devices, for QA and support: find a device, see what happened to it, pin it to a channel. */
export function DevicesScreen() {
  const app = useCurrentApp();
  return (
    <div className="screen devices-screen">
      <ScreenHead
        title="Devices"
        purpose="Look a device up to see what happened to it, or pin a test device to a channel."
      />
      {app ? (
        <DevicesOfApp key={app} app={app} />
      ) : (
        <p className="notice">No app selected. Connect to a server under Servers and pick an app in the sidebar.</p>
      )}
    </div>
  );
}

/** Everything for one app; remounted when the app changes so nothing of another app lingers. */
function DevicesOfApp({ app }: { app: string }) {
  const backend = useBackend();
  const channels = useLoad(() => backend.listChannels(app), app);
  const [form, setForm] = useState<SearchForm>(emptyForm);
  const [search, setSearch] = useState<SearchState>({ kind: 'loading', filter: toFilter(emptyForm) });
  const [open, setOpen] = useState<string | null>(null);
  const [returnTo, setReturnTo] = useState<string | null>(null);
  // Only the latest search may show its answer.
  const latest = useRef(0);

  const run = useCallback(
    (submitted: SearchForm) => {
      const filter = toFilter(submitted);
      const ticket = ++latest.current;
      setSearch({ kind: 'loading', filter });
      setOpen(null);
      setReturnTo(null);
      backend.searchDevices(app, filter).then(
        (results) => {
          if (ticket !== latest.current) return;
          setSearch({ kind: 'done', filter, results });
          const only = directMatch(filter.q ?? null, results);
          if (only) setOpen(only.device_id);
        },
        (e) => {
          if (ticket !== latest.current) return;
          setSearch({ kind: 'failed', filter, error: toUiError(e) });
        },
      );
    },
    [backend, app],
  );

  // Opening the screen lists the devices seen most recently.
  useEffect(() => run(emptyForm), [run]);

  const retry = () =>
    run({
      q: search.filter.q ?? '',
      channel: search.filter.channel ?? '',
      nativeVersion: search.filter.native_version ?? '',
      bundle: search.filter.bundle ?? '',
    });

  return (
    <>
      {channels.error && (
        <ErrorBanner
          error={{ ...channels.error, message: `Could not load the channels: ${channels.error.message}` }}
          onRetry={channels.reload}
        />
      )}
      {open ? (
        <DeviceDetailView
          key={open}
          app={app}
          deviceId={open}
          channels={channels.data}
          onBack={() => {
            setReturnTo(open);
            setOpen(null);
          }}
        />
      ) : (
        <>
          <DeviceSearch form={form} onChange={setForm} onSearch={run} channels={channels.data} />
          <DeviceResults state={search} onOpen={setOpen} onRetry={retry} returnTo={returnTo} />
        </>
      )}
    </>
  );
}
