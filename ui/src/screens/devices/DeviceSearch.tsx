import type { FormEvent } from 'react';
import type { Channel } from '../../bindings/Channel';
import { emptyForm, type SearchForm } from './search';

interface Props {
  form: SearchForm;
  onChange: (form: SearchForm) => void;
  onSearch: (form: SearchForm) => void;
  /** The app's channels for the channel filter; null while loading or after a failure. */
  channels: Channel[] | null;
}

/** The search box and its filters; Enter in any field searches. */
export function DeviceSearch({ form, onChange, onSearch, channels }: Props) {
  function submit(event: FormEvent) {
    event.preventDefault();
    onSearch(form);
  }
  const set = (patch: Partial<SearchForm>) => onChange({ ...form, ...patch });
  const filtered = form.channel !== '' || form.nativeVersion.trim() !== '' || form.bundle.trim() !== '';
  // A channel filter that is no longer in the list (renamed, or the list failed) stays choosable.
  const names = channels?.map((c) => c.name) ?? [];
  if (form.channel && !names.includes(form.channel)) names.push(form.channel);

  return (
    <form className="card devices-search" role="search" aria-label="Search devices" onSubmit={submit}>
      <div className="row">
        <label className="field grow">
          <span>Device</span>
          <input
            name="device-search"
            type="search"
            value={form.q}
            onChange={(e) => set({ q: e.target.value })}
            placeholder="Device id or custom id (the start of a device id works too)"
            spellCheck={false}
            autoComplete="off"
            autoFocus
          />
        </label>
        <button type="submit" className="button">
          Search
        </button>
      </div>
      <div className="row devices-filters">
        <label className="field">
          <span>Channel</span>
          <select name="filter-channel" value={form.channel} onChange={(e) => set({ channel: e.target.value })}>
            <option value="">Any channel</option>
            {names.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Native version</span>
          <input
            name="filter-native-version"
            value={form.nativeVersion}
            onChange={(e) => set({ nativeVersion: e.target.value })}
            placeholder="e.g. 2.4.0"
            spellCheck={false}
            autoComplete="off"
          />
        </label>
        <label className="field">
          <span>Bundle version</span>
          <input
            name="filter-bundle"
            value={form.bundle}
            onChange={(e) => set({ bundle: e.target.value })}
            placeholder="e.g. 2.4.1"
            spellCheck={false}
            autoComplete="off"
          />
        </label>
        {filtered && (
          <button
            type="button"
            className="button secondary"
            onClick={() => {
              const cleared = { ...emptyForm, q: form.q };
              onChange(cleared);
              onSearch(cleared);
            }}
          >
            Clear filters
          </button>
        )}
      </div>
    </form>
  );
}
