import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, api, asApiError, type Query } from "./api";

/** How often live pages (dashboard, deliveries, inbound events) fetch again. */
export const REFRESH_MS = 5000;

export interface Resource<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  /** When the data was last fetched successfully. */
  updatedAt: Date | undefined;
  reload: () => Promise<void>;
}

/**
 * GET `path` (skipped while it is null) and keep the answer; `refreshMs` re-fetches in the
 * background while the tab is visible, keeping the previous data on screen meanwhile.
 */
export function useApi<T>(path: string | null, query?: Query, refreshMs?: number): Resource<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<ApiError>();
  const [loading, setLoading] = useState(path !== null);
  const [updatedAt, setUpdatedAt] = useState<Date>();
  const key = path === null ? null : JSON.stringify([path, query ?? {}]);
  const current = useRef<AbortController | null>(null);
  const lastKey = useRef<string | null>(null);

  /**
   * Fetch now. A background refresh skips its tick while the previous request is still pending,
   * so an endpoint slower than the refresh interval still completes; a change of resource or an
   * explicit reload (after a change the page made) replaces the pending request instead.
   */
  const fetchNow = useCallback(async (background = false) => {
    if (key === null || path === null) return;
    if (background && current.current) return;
    current.current?.abort();
    const controller = new AbortController();
    current.current = controller;
    if (lastKey.current !== key) {
      // A different resource: do not show the previous one's data while it loads.
      lastKey.current = key;
      setData(undefined);
    }
    setLoading(true);
    try {
      const result = await api<T>(path, { query, signal: controller.signal });
      if (controller.signal.aborted) return;
      setData(result);
      setError(undefined);
      setUpdatedAt(new Date());
    } catch (caught) {
      if (controller.signal.aborted) return;
      setError(asApiError(caught));
    } finally {
      if (current.current === controller) current.current = null;
      if (!controller.signal.aborted) setLoading(false);
    }
  }, [key]);

  useEffect(() => {
    void fetchNow();
    return () => current.current?.abort();
  }, [fetchNow]);

  useEffect(() => {
    if (!refreshMs || key === null) return;
    const timer = window.setInterval(() => {
      if (document.visibilityState !== "hidden") void fetchNow(true);
    }, refreshMs);
    return () => window.clearInterval(timer);
  }, [fetchNow, refreshMs, key]);

  const reload = useCallback(() => fetchNow(false), [fetchNow]);
  return { data, error, loading, updatedAt, reload };
}

export interface Action<A extends unknown[], R> {
  run: (...args: A) => Promise<R | undefined>;
  busy: boolean;
  error: ApiError | undefined;
  clearError: () => void;
}

/** A mutation: `run` resolves to the result, or to undefined after recording the error. */
export function useAction<A extends unknown[], R>(fn: (...args: A) => Promise<R>): Action<A, R> {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError>();
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const run = useCallback(async (...args: A) => {
    setBusy(true);
    setError(undefined);
    try {
      return await fnRef.current(...args);
    } catch (caught) {
      setError(asApiError(caught));
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  const clearError = useCallback(() => setError(undefined), []);
  return { run, busy, error, clearError };
}

/** A list with "load more" pages by cursor; the first page re-fetches on `refreshMs`. */
export function usePagedList<T>(path: string | null, query: Query | undefined, refreshMs?: number) {
  const first = useApi<{ data: T[]; next_cursor: string | null }>(path, query, refreshMs);
  const [more, setMore] = useState<T[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const [moreError, setMoreError] = useState<ApiError>();
  const key = JSON.stringify([path, query ?? {}]);

  useEffect(() => {
    setMore([]);
    setCursor(null);
  }, [key]);

  const nextCursor = more.length ? cursor : (first.data?.next_cursor ?? null);

  const loadMore = useCallback(async () => {
    if (!path || !nextCursor) return;
    setLoadingMore(true);
    setMoreError(undefined);
    try {
      const page = await api<{ data: T[]; next_cursor: string | null }>(path, {
        query: { ...query, cursor: nextCursor },
      });
      setMore((items) => [...items, ...page.data]);
      setCursor(page.next_cursor);
    } catch (caught) {
      setMoreError(asApiError(caught));
    } finally {
      setLoadingMore(false);
    }
  }, [path, key, nextCursor]);

  const items = first.data ? withoutRepeats([...first.data.data, ...more]) : undefined;
  return {
    ...first,
    items,
    hasMore: Boolean(nextCursor),
    loadMore,
    loadingMore,
    moreError,
  };
}

/** A refreshed first page can overlap pages loaded earlier: keep the first copy of each id. */
function withoutRepeats<T>(items: T[]): T[] {
  const seen = new Set<unknown>();
  return items.filter((item) => {
    const id = (item as { id?: unknown }).id;
    if (id === undefined) return true;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}
