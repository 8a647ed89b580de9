import { act, renderHook } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { REFRESH_MS, useApi } from "./hooks";

afterEach(() => {
  vi.useRealTimers();
});

/** fetch() answering after `ms`, or rejecting as fetch does when its signal aborts first. */
function slowFetch(ms: number) {
  const signals: AbortSignal[] = [];
  const fetch = vi.fn((_input: string, init?: RequestInit) => {
    const signal = init!.signal!;
    signals.push(signal);
    return new Promise<Response>((resolve, reject) => {
      const timer = setTimeout(
        () => resolve(new Response(JSON.stringify({ answer: signals.length }), { headers: { "Content-Type": "application/json" } })),
        ms,
      );
      signal.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(new DOMException("The operation was aborted.", "AbortError"));
      });
    });
  });
  vi.stubGlobal("fetch", fetch);
  return { fetch, signals };
}

describe("useApi auto-refresh", () => {
  it("skips a tick while the request is still pending, so an endpoint slower than 5 s completes", async () => {
    vi.useFakeTimers();
    const { fetch, signals } = slowFetch(7000);
    const { result } = renderHook(() => useApi<{ answer: number }>("/slow", undefined, REFRESH_MS));
    expect(result.current.loading).toBe(true);

    await act(async () => {
      await vi.advanceTimersByTimeAsync(REFRESH_MS); // the first tick, 2 s before the answer
    });
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(signals[0].aborted).toBe(false);

    await act(async () => {
      await vi.advanceTimersByTimeAsync(2000); // 7 s: the answer
    });
    expect(result.current.data).toEqual({ answer: 1 });
    expect(result.current.loading).toBe(false);

    await act(async () => {
      await vi.advanceTimersByTimeAsync(3000); // 10 s: nothing pending, so this tick fetches
    });
    expect(fetch).toHaveBeenCalledTimes(2);
    expect(result.current.data).toEqual({ answer: 1 }); // kept on screen meanwhile
  });

  it("still refreshes every 5 s when answers are quick", async () => {
    vi.useFakeTimers();
    const { fetch } = slowFetch(100);
    const { result } = renderHook(() => useApi<{ answer: number }>("/quick", undefined, REFRESH_MS));
    await act(async () => {
      await vi.advanceTimersByTimeAsync(3 * REFRESH_MS + 200);
    });
    expect(fetch).toHaveBeenCalledTimes(4);
    expect(result.current.data).toEqual({ answer: 4 });
  });

  it("lets an explicit reload replace a pending request", async () => {
    vi.useFakeTimers();
    const { fetch, signals } = slowFetch(7000);
    const { result } = renderHook(() => useApi<{ answer: number }>("/slow", undefined, REFRESH_MS));
    await act(async () => {
      await vi.advanceTimersByTimeAsync(1000);
      void result.current.reload();
    });
    expect(fetch).toHaveBeenCalledTimes(2);
    expect(signals[0].aborted).toBe(true);
    await act(async () => {
      await vi.advanceTimersByTimeAsync(7000);
    });
    expect(result.current.data).toEqual({ answer: 2 });
  });
});
