import { render, screen, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { ApiError } from "../api";
import { Empty } from "./feedback";
import { PagedTable, Table, type PagedItems } from "./Table";

function paged(overrides: Partial<PagedItems>): PagedItems {
  const idle = () => Promise.resolve();
  return { items: undefined, loading: false, error: undefined, reload: idle, hasMore: false, loadMore: idle, loadingMore: false, moreError: undefined, ...overrides };
}

const rows = (
  <tr>
    <th scope="row">Canvas</th>
    <td>active</td>
  </tr>
);

describe("Table", () => {
  it("heads each column, leaves out the columns given as false, and holds the rows", () => {
    render(
      <Table testId="things" className="table-compact" columns={["Name", false, <span className="visually-hidden">State</span>]}>
        {rows}
      </Table>,
    );
    const table = screen.getByTestId("things");
    expect(table).toHaveClass("table", "table-stack", "table-compact");
    expect(within(table).getAllByRole("columnheader").map((cell) => cell.textContent)).toEqual(["Name", "State"]);
    expect(within(table).getByRole("rowheader", { name: "Canvas" })).toBeInTheDocument();
  });
});

describe("PagedTable", () => {
  const table = (
    <Table testId="things" columns={["Name", "State"]}>
      {rows}
    </Table>
  );

  it("shows the empty state once the list is known to hold nothing, and the table otherwise", () => {
    const { rerender } = render(
      <PagedTable what="Things" list={paged({ items: [] })} empty={<Empty title="No things yet" />}>
        {table}
      </PagedTable>,
    );
    expect(screen.getByText("No things yet")).toBeInTheDocument();
    expect(screen.queryByTestId("things")).not.toBeInTheDocument();

    rerender(
      <PagedTable what="Things" list={paged({ items: [{}], hasMore: true })} empty={<Empty title="No things yet" />}>
        {table}
      </PagedTable>,
    );
    expect(screen.getByTestId("things")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Load more" })).toBeInTheDocument();
  });

  it("without an empty state shows the table even when empty", () => {
    render(
      <PagedTable what="Things" list={paged({ items: [] })}>
        {table}
      </PagedTable>,
    );
    expect(screen.getByTestId("things")).toBeInTheDocument();
  });

  it("says it is loading, and offers a retry when the first page failed", () => {
    const reload = vi.fn(() => Promise.resolve());
    const { rerender } = render(
      <PagedTable what="Things" list={paged({ loading: true })}>
        {table}
      </PagedTable>,
    );
    expect(screen.getByRole("status")).toHaveTextContent("Loading things…");
    rerender(
      <PagedTable what="Things" list={paged({ error: new ApiError(500, "Internal Server Error", "boom", "about:blank"), reload })}>
        {table}
      </PagedTable>,
    );
    expect(screen.getByRole("alert")).toHaveTextContent("boom");
    screen.getByRole("button", { name: "Try again" }).click();
    expect(reload).toHaveBeenCalledOnce();
  });
});
