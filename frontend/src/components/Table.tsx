// The tables the pages list records in, and the states a paged list passes through around one.
import type { ReactNode } from "react";
import type { ApiError } from "../api";
import { LoadMore, LoadState } from "./feedback";

/**
 * A table that stacks into cards on narrow screens: its scrolling wrapper, one header cell a
 * column (a column given as `false` is left out), and `children` as the body rows.
 */
export function Table({
  testId,
  columns,
  className,
  colgroup,
  children,
}: {
  testId: string;
  columns: (ReactNode | false)[];
  /** More classes beside "table table-stack". */
  className?: string;
  /** A <colgroup> that fixes the columns' widths. */
  colgroup?: ReactNode;
  children: ReactNode;
}) {
  return (
    <div className="table-wrap">
      <table className={className ? `table table-stack ${className}` : "table table-stack"} data-testid={testId}>
        {colgroup}
        <thead>
          <tr>
            {columns.map((column, index) =>
              column === false ? null : (
                <th key={index} scope="col">
                  {column}
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

/** What PagedTable needs of usePagedList's answer. */
export interface PagedItems {
  items: unknown[] | undefined;
  loading: boolean;
  error: ApiError | undefined;
  reload: () => Promise<void>;
  hasMore: boolean;
  loadMore: () => Promise<void>;
  loadingMore: boolean;
  moreError: ApiError | undefined;
}

/**
 * A paged list on a page: its load states (named `what`), `empty` once it is known to hold
 * nothing (without `empty`, the table even then), else `children` (its Table), then "Load more".
 */
export function PagedTable({ what, list, empty, children }: { what: string; list: PagedItems; empty?: ReactNode; children: ReactNode }) {
  return (
    <LoadState what={what} loading={list.loading} error={list.error} hasData={Boolean(list.items)} onRetry={list.reload}>
      {empty !== undefined && list.items && list.items.length === 0 ? empty : children}
      <LoadMore list={list} />
    </LoadState>
  );
}

/** A row's last cell: its buttons side by side, or nothing when `show` is false. */
export function RowActions({ show = true, children }: { show?: boolean; children: ReactNode }) {
  return <td data-label="Actions">{show && <div className="button-row">{children}</div>}</td>;
}
