import { act, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DELIVERY, renderApp } from "../../test/app";
import { FakeApi, problem } from "../../test/server";

afterEach(() => {
  vi.useRealTimers();
});

describe("dashboard", () => {
  it("shows counts, queue depth and charts, marks a missing endpoint unavailable, and refreshes every 5 s", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    let delivered = 7;
    const server = new FakeApi({
      "GET /v1/monitoring/webhooks/metrics": () => ({
        body: { delivered, failed: 2, dead: 1, pending: 3, retrying: 4, delivering: 1, avg_retry_count: 0.25, p50_latency_ms: 40, p99_latency_ms: 1500 },
      }),
      "GET /v1/monitoring/webhooks/timeseries": {
        body: {
          data: [
            { t: "2026-11-22T10:00:00Z", delivered: 1, failed: 0, success_rate: 1, p50_latency_ms: 30, p99_latency_ms: 90 },
            { t: "2026-11-22T10:01:00Z", delivered: 1, failed: 1, success_rate: 0.5, p50_latency_ms: 50, p99_latency_ms: 120 },
          ],
        },
      },
      "GET /api/webhooks/deliveries": { body: { data: [DELIVERY], next_cursor: null } },
      "GET /v1/monitoring/external/keys": problem(501, "Not Implemented", "not offered by this server"),
    });
    renderApp("/");
    const cards = await screen.findByTestId("metric-cards");
    expect(within(cards).getByText("Queue depth").parentElement).toHaveTextContent("8");
    expect(within(cards).getByText("Delivered").parentElement).toHaveTextContent("7");
    expect(within(cards).getByText("Latency p99").parentElement).toHaveTextContent("1.50 s");
    expect(screen.getByRole("img", { name: /^Success rate, 2 points/ })).toBeInTheDocument();
    expect(screen.getByRole("img", { name: /^Latency, 2 points/ })).toBeInTheDocument();
    expect(await screen.findByText("API key usage is unavailable")).toBeInTheDocument();
    expect(screen.getByTestId("recent-deliveries")).toHaveTextContent("task.completed");

    delivered = 9;
    const before = server.to("GET /v1/monitoring/webhooks/metrics").length;
    await act(async () => {
      await vi.advanceTimersByTimeAsync(5000);
    });
    expect(server.to("GET /v1/monitoring/webhooks/metrics").length).toBe(before + 1);
    await waitFor(() => expect(within(cards).getByText("Delivered").parentElement).toHaveTextContent("9"));
  });

  it("shows API key usage by tier when the server has it", async () => {
    new FakeApi({
      "GET /v1/monitoring/external/keys": {
        body: { data: [{ tier: "pro", keys: 2, requests_today: 340, unique_consumers: 3, rate_limit_hits: 1 }] },
      },
    });
    renderApp("/");
    const region = await screen.findByRole("region", { name: "API key usage by tier" });
    expect(await within(region).findByRole("rowheader", { name: "pro" })).toBeInTheDocument();
    expect(within(region).getByRole("cell", { name: "340" })).toBeInTheDocument();
  });
});
