import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { describe, expect, it, vi } from "vitest";
import { ApiError } from "../api";
import { useAction } from "../hooks";
import { BarList, chartPoints, LineChart, linePath } from "./charts";
import { ConfirmDialog } from "./Dialog";
import { formatMs, formatPercent } from "./display";
import { EventTypePicker, normalizeTypes } from "./EventTypePicker";
import { ErrorBanner, LoadState } from "./feedback";
import { Field, lines } from "./forms";
import { SecretReveal } from "./SecretReveal";

const validation = new ApiError(422, "Validation Failed", "invalid fields: name, tier", "urn:x", {
  name: ["must not be blank"],
  tier: ["Must be one of: starter, pro, enterprise."],
});

describe("ErrorBanner", () => {
  it("shows the problem's title and detail, and the field errors not shown beside inputs", () => {
    render(<ErrorBanner error={validation} fields={["name"]} />);
    const alert = screen.getByRole("alert");
    expect(alert).toHaveTextContent("Validation Failed");
    expect(alert).toHaveTextContent("invalid fields: name, tier");
    expect(alert).toHaveTextContent("tier: Must be one of: starter, pro, enterprise.");
    expect(alert).not.toHaveTextContent("must not be blank");
  });

  it("offers a retry", async () => {
    const retry = vi.fn();
    render(<ErrorBanner error={new ApiError(503, "Service Unavailable", "retry shortly")} onRetry={retry} />);
    await userEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect(retry).toHaveBeenCalled();
  });
});

describe("LoadState", () => {
  it("shows loading, then unavailable for a missing endpoint, then content", () => {
    const { rerender } = render(
      <LoadState what="API key usage" loading error={undefined} hasData={false}>
        content
      </LoadState>,
    );
    expect(screen.getByRole("status")).toHaveTextContent("Loading api key usage…");
    rerender(
      <LoadState what="API key usage" loading={false} error={new ApiError(501, "Not Implemented", "")} hasData={false}>
        content
      </LoadState>,
    );
    expect(screen.getByText("API key usage is unavailable")).toBeInTheDocument();
    rerender(
      <LoadState what="API key usage" loading={false} error={undefined} hasData>
        content
      </LoadState>,
    );
    expect(screen.getByText("content")).toBeInTheDocument();
  });

  it("says a 404 problem is not found, with the server's detail, not that the feature is missing", () => {
    const { rerender } = render(
      <LoadState what="Delivery" loading={false} error={new ApiError(404, "Not Found", "no delivery d1 in your organizations")} hasData={false}>
        content
      </LoadState>,
    );
    const alert = screen.getByRole("alert");
    expect(alert).toContainElement(screen.getByText("Delivery not found"));
    expect(alert).toContainElement(screen.getByText("No delivery d1 in your organizations.")); // the problem's detail
    expect(screen.queryByText(/unavailable/)).not.toBeInTheDocument();
    expect(screen.queryByText(/Update the server/)).not.toBeInTheDocument();
    expect(screen.queryByText("content")).not.toBeInTheDocument();

    // A detail that only repeats the title is not said twice.
    rerender(
      <LoadState what="Delivery" loading={false} error={new ApiError(404, "Not Found", "delivery not found")} hasData={false}>
        content
      </LoadState>,
    );
    expect(screen.getByRole("alert")).toHaveTextContent(/^Delivery not found$/);
  });

  it("treats a 404 that is not problem+json as an unavailable endpoint", () => {
    render(
      <LoadState what="Audit log" loading={false} error={new ApiError(404, "Not Found", "", "about:blank", {}, false)} hasData={false}>
        content
      </LoadState>,
    );
    expect(screen.getByText("Audit log is unavailable")).toBeInTheDocument();
  });

  it("keeps the data on screen when a refresh fails, with the error above it", () => {
    render(
      <LoadState what="Deliveries" loading={false} error={new ApiError(503, "Service Unavailable", "the database is unavailable")} hasData>
        the table
      </LoadState>,
    );
    expect(screen.getByRole("alert")).toHaveTextContent("the database is unavailable");
    expect(screen.getByText("the table")).toBeInTheDocument();
  });
});

describe("Field", () => {
  it("marks its input invalid and links the server's message to it", () => {
    render(
      <Field label="Name" name="name" error={validation} hint="Who uses it">
        {(props) => <input {...props} />}
      </Field>,
    );
    const input = screen.getByLabelText("Name");
    expect(input).toHaveAttribute("aria-invalid", "true");
    expect(input).toHaveAccessibleDescription("Who uses it must not be blank");
  });

  it("splits lines and commas into a list", () => {
    expect(lines("10.0.0.0/8\n\n 192.168.1.1 , 2001:db8::/32\n")).toEqual(["10.0.0.0/8", "192.168.1.1", "2001:db8::/32"]);
  });
});

describe("SecretReveal", () => {
  it("shows the secret once with a working copy button", async () => {
    const user = userEvent.setup();
    const writeText = vi.spyOn(navigator.clipboard, "writeText");
    render(<SecretReveal label="Signing secret" secret="whsec_abc" />);
    expect(screen.getByText(/shown only once/)).toBeInTheDocument();
    expect(screen.getByRole("textbox", { name: "Signing secret" })).toHaveValue("whsec_abc");
    await user.click(screen.getByRole("button", { name: "Copy" }));
    expect(writeText).toHaveBeenCalledWith("whsec_abc");
    expect(await navigator.clipboard.readText()).toBe("whsec_abc");
    expect(screen.getByRole("status")).toHaveTextContent("Copied to the clipboard.");
  });

  it("says how to copy by hand when the clipboard is refused", async () => {
    const user = userEvent.setup();
    vi.spyOn(navigator.clipboard, "writeText").mockRejectedValue(new DOMException("denied", "NotAllowedError"));
    document.execCommand = vi.fn(() => false);
    render(<SecretReveal label="API key" secret="qbk_123" />);
    await user.click(screen.getByRole("button", { name: "Copy" }));
    expect(screen.getByRole("status")).toHaveTextContent("press Ctrl+C");
  });
});

describe("ConfirmDialog", () => {
  function Harness({ onConfirm }: { onConfirm: () => void }) {
    const [open, setOpen] = useState(false);
    return (
      <>
        <button onClick={() => setOpen(true)}>Delete…</button>
        {open && (
          <ConfirmDialog title="Delete this?" confirmLabel="Delete" danger onConfirm={onConfirm} onCancel={() => setOpen(false)}>
            <p>It cannot be undone.</p>
          </ConfirmDialog>
        )}
      </>
    );
  }

  it("focuses Cancel, keeps Tab inside, closes on Escape and returns focus", async () => {
    const user = userEvent.setup();
    const confirm = vi.fn();
    render(<Harness onConfirm={confirm} />);
    const opener = screen.getByRole("button", { name: "Delete…" });
    await user.click(opener);
    const dialog = screen.getByRole("dialog", { name: "Delete this?" });
    expect(dialog).toHaveAttribute("aria-modal", "true");
    expect(screen.getByRole("button", { name: "Cancel" })).toHaveFocus();
    await user.tab();
    expect(screen.getByRole("button", { name: "Delete" })).toHaveFocus();
    await user.tab();
    expect(screen.getByRole("button", { name: "Cancel" })).toHaveFocus();
    await user.tab({ shift: true });
    expect(screen.getByRole("button", { name: "Delete" })).toHaveFocus();
    await user.keyboard("{Escape}");
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    expect(opener).toHaveFocus();
    expect(confirm).not.toHaveBeenCalled();
  });

  it("confirms with the destructive button", async () => {
    const user = userEvent.setup();
    const confirm = vi.fn();
    render(<Harness onConfirm={confirm} />);
    await user.click(screen.getByRole("button", { name: "Delete…" }));
    await user.click(screen.getByRole("button", { name: "Delete" }));
    expect(confirm).toHaveBeenCalledOnce();
  });

  it("shows the error of the action it confirms, and clears it on Cancel", async () => {
    const user = userEvent.setup();
    let action: ReturnType<typeof useAction<[], never>> | undefined;
    function WithAction() {
      const [open, setOpen] = useState(true);
      action = useAction(() => Promise.reject(new ApiError(403, "Forbidden", "organization admins only", "about:blank")));
      return (
        <>
          <button onClick={() => setOpen(true)}>Delete…</button>
          {open && (
            <ConfirmDialog
              title="Delete this?"
              confirmLabel="Delete"
              danger
              action={action}
              onConfirm={() => void action!.run()}
              onCancel={() => setOpen(false)}
            >
              <p>It cannot be undone.</p>
            </ConfirmDialog>
          )}
        </>
      );
    }
    render(<WithAction />);
    await user.click(screen.getByRole("button", { name: "Delete" }));
    expect(await within(screen.getByRole("dialog")).findByRole("alert")).toHaveTextContent("organization admins only");
    await user.click(screen.getByRole("button", { name: "Cancel" }));
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    expect(action!.error).toBeUndefined();
    await user.click(screen.getByRole("button", { name: "Delete…" }));
    expect(within(screen.getByRole("dialog")).queryByRole("alert")).not.toBeInTheDocument();
  });
});

describe("EventTypePicker", () => {
  const catalog = [
    { type: "task.completed", description: "A learner completed a task." },
    { type: "quest.completed", description: "A learner completed a quest." },
  ];

  function Harness({ initial = [] as string[] }) {
    const [value, setValue] = useState(initial);
    return (
      <>
        <EventTypePicker catalog={catalog} value={value} onChange={setValue} />
        <output data-testid="value">{JSON.stringify(normalizeTypes(value))}</output>
      </>
    );
  }

  it("picks catalog types by keyboard", async () => {
    const user = userEvent.setup();
    render(<Harness />);
    screen.getByRole("checkbox", { name: /task\.completed/ }).focus();
    await user.keyboard(" ");
    expect(screen.getByTestId("value")).toHaveTextContent('["task.completed"]');
  });

  it("makes every event (*) override and disable the rest", async () => {
    const user = userEvent.setup();
    render(<Harness initial={["task.completed"]} />);
    await user.click(screen.getByRole("checkbox", { name: /Every event/ }));
    expect(screen.getByRole("checkbox", { name: /quest\.completed/ })).toBeDisabled();
    expect(screen.getByRole("checkbox", { name: /quest\.completed/ })).toBeChecked();
    expect(screen.getByTestId("value")).toHaveTextContent('["*"]');
  });

  it("adds and removes custom dotted types, refusing malformed ones", async () => {
    const user = userEvent.setup();
    render(<Harness />);
    const input = screen.getByLabelText("Custom event type");
    await user.type(input, "Not Dotted{Enter}");
    expect(screen.getByText(/Use a dotted lower-case name/)).toBeInTheDocument();
    await user.clear(input);
    await user.type(input, "canvas.grade_synced{Enter}");
    expect(screen.getByTestId("value")).toHaveTextContent('["canvas.grade_synced"]');
    await user.click(screen.getByRole("button", { name: "Remove canvas.grade_synced" }));
    expect(screen.getByTestId("value")).toHaveTextContent("[]");
  });
});

describe("charts", () => {
  it("breaks the line where a minute has no data", () => {
    expect(linePath([1, 0.5, null, 1], 1).match(/M/g)).toHaveLength(2);
    expect(chartPoints([null, 1], 1)[0]).toBeNull();
  });

  it("draws a labelled chart and says so when there is no data", () => {
    const { rerender } = render(
      <LineChart
        title="Success rate"
        labels={["10:00", "10:01", "10:02"]}
        max={1}
        formatValue={formatPercent}
        series={[{ name: "Success rate", className: "series-a", values: [1, null, 0.5] }]}
      />,
    );
    expect(screen.getByRole("img", { name: /Success rate, 3 points from 10:00 to 10:02\. Latest — Success rate: 50\.0%/ })).toBeInTheDocument();
    expect(screen.getByText("Success rate: 50.0%")).toBeInTheDocument();
    rerender(
      <LineChart title="Latency" labels={["10:00"]} formatValue={formatMs} series={[{ name: "p50", className: "series-a", values: [null] }]} />,
    );
    expect(screen.getByText("No data in this period yet.")).toBeInTheDocument();
  });

  it("scales bars to the largest value", () => {
    const { container } = render(
      <BarList title="Requests today" items={[{ label: "starter", value: 50 }, { label: "pro", value: 200 }]} />,
    );
    const widths = Array.from(container.querySelectorAll("rect")).map((rect) => rect.getAttribute("width"));
    expect(widths).toEqual(["25", "100"]);
  });

  it("formats latency and rates for people", () => {
    expect(formatMs(12.4)).toBe("12 ms");
    expect(formatMs(2500)).toBe("2.50 s");
    expect(formatMs(null)).toBe("—");
    expect(formatPercent(0.9876)).toBe("98.8%");
  });
});
