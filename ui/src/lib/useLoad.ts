// Loading data for a screen: the result, the error in `{ code, message }` shape, and a reload.
// A failed call always ends the loading state, so no screen is left spinning.
import { useCallback, useEffect, useRef, useState } from 'react';
import type { UiError } from '../bindings/UiError';
import { toUiError } from './backend/backend';

export interface Loaded<T> {
  data: T | null;
  error: UiError | null;
  loading: boolean;
  reload: () => void;
}

/** Calls `load` now and whenever `key` changes; the latest call wins. */
export function useLoad<T>(load: () => Promise<T>, key: string): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [loading, setLoading] = useState(true);
  const [generation, setGeneration] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  useEffect(() => {
    let current = true;
    setLoading(true);
    loadRef.current().then(
      (value) => {
        if (!current) return;
        setData(value);
        setError(null);
        setLoading(false);
      },
      (e) => {
        if (!current) return;
        setError(toUiError(e));
        setLoading(false);
      },
    );
    return () => {
      current = false;
    };
  }, [key, generation]);

  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  return { data, error, loading, reload };
}
