// Load something from the API for a page: its data, its error, and a reload (after an action, or when
// the live channel says it changed).
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, errorText } from './api.ts';

export interface Loaded<T> {
  data: T | undefined;
  error: string | undefined;
  loading: boolean;
  reload: () => void;
}

export function useApi<T>(path: string | undefined): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  // Only the answer to the latest request is shown, whatever order answers arrive in.
  const latest = useRef(0);
  useEffect(() => {
    if (!path) return;
    const n = ++latest.current;
    setLoading(true);
    api<T>(path).then(
      (value) => {
        if (n !== latest.current) return;
        setData(value);
        setError(undefined);
        setLoading(false);
      },
      (e: unknown) => {
        if (n !== latest.current) return;
        setError(errorText(e));
        setLoading(false);
      },
    );
  }, [path, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}
