import { render, within } from "@testing-library/react";
import type { ReactNode } from "react";
import { MemoryRouter, useLocation } from "react-router-dom";
import { AppRoutes, LearnerRoutes } from "../App";
import { AuthProvider } from "../auth";
import { ORG } from "./server";

// What the page tests share: the whole app rendered at an address (with the auth provider and a
// router, as main.tsx does), and the records several resources' pages show. The API boundary is
// the FakeApi in ./server.

function Where() {
  const location = useLocation();
  return <output data-testid="location">{`${location.pathname}${location.search}`}</output>;
}

function renderAt(path: string, routes: ReactNode) {
  return render(
    <AuthProvider>
      <MemoryRouter initialEntries={[path]}>
        {routes}
        <Where />
      </MemoryRouter>
    </AuthProvider>,
  );
}

/** The app at `path`; the address it ends up at is in the `location` test id. */
export function renderApp(path: string) {
  return renderAt(path, <AppRoutes />);
}

/** The learner area at `path` (relative to /learn, e.g. "/quests/<id>"), as main.tsx renders it there. */
export function renderLearner(path: string) {
  return renderAt(path, <LearnerRoutes />);
}

/** The row of a table that mentions `text` (emails break across <wbr>, so not by accessible name). */
export function rowWith(table: HTMLElement, text: string): HTMLElement {
  const row = within(table)
    .getAllByRole("row")
    .find((candidate) => candidate.textContent?.includes(text));
  if (!row) throw new Error(`no row mentions ${text}`);
  return row;
}

export const empty = { data: [], next_cursor: null };
export const UNKNOWN = "0f0f0f0f-0000-4000-8000-00000000dead";

export const CATALOG = {
  data: [
    { type: "task.completed", description: "A learner completed a task." },
    { type: "quest.completed", description: "A learner completed a quest." },
  ],
};

export const SUBSCRIPTION = {
  id: "aaaaaaaa-0000-4000-8000-000000000001",
  organization_id: ORG.id,
  target_url: "https://lms.example.org/hooks",
  description: "Canvas",
  event_types: ["task.completed"],
  active: true,
  created_at: "2026-11-22T10:00:00Z",
};

export const DELIVERY = {
  id: "dddddddd-0000-4000-8000-000000000001",
  event_id: "eeeeeeee-0000-4000-8000-000000000001",
  subscription_id: SUBSCRIPTION.id,
  event_type: "task.completed",
  status: "dead",
  attempts: 5,
  next_attempt_at: null,
  last_status_code: 500,
  last_error: "HTTP 500",
  created_at: "2026-11-22T10:01:00Z",
  delivered_at: null,
};

/** An organization an invitation is for, and who sent it. */
export const NEW_ORG = { id: "33333333-3333-4333-8333-333333333333", name: "Mallory Labs", role: "member" };
export const INVITER = { email: "mallory@labs.example", display_name: null };
