import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { isLearnerPath } from "../../App";
import { renderLearner, UNKNOWN } from "../../test/app";
import { FakeApi, ORG, problem, type Call } from "../../test/server";

const LEARNER = {
  id: "u2",
  email: "learner@riverside.example",
  organizations: [{ ...ORG, role: "member" }],
  csrf_token: "csrf-learner",
};
const QUEST_ID = "99999999-0000-4000-8000-000000000001";
const LOOPS = "77777777-0000-4000-8000-000000000001";
const FUNCTIONS = "77777777-0000-4000-8000-000000000002";

const GRADED = {
  id: "55555555-0000-4000-8000-000000000001",
  task_id: LOOPS,
  content: "for i in range(3): print(i)",
  status: "graded",
  score: 7.5,
  max_score: 10,
  feedback: "Mind the edge cases.",
  graded_at: "2026-12-07T10:05:00Z",
  created_at: "2026-12-07T10:00:00Z",
};

function quest(functionsWork: object[] = []) {
  return {
    id: QUEST_ID,
    organization_id: ORG.id,
    title: "Python",
    description: "Learn the basics.",
    task_count: 2,
    tasks: [
      { id: LOOPS, title: "Loops", description: "Print 0 to 2.", pillar: "code", xp: 10, completed: false, submissions: [GRADED] },
      { id: FUNCTIONS, title: "Functions", description: "", pillar: "code", xp: 20, completed: false, submissions: functionsWork },
    ],
  };
}

function learnerApi(handlers: Record<string, (call: Call) => ReturnType<typeof problem> | { status?: number; body?: unknown }> = {}) {
  return new FakeApi({ "GET /api/auth/me": { body: LEARNER }, [`GET /api/quests/${QUEST_ID}/progress`]: { body: quest() }, ...handlers });
}

describe("the learner's quest page", () => {
  it("shows the quest, each task's status, and the learner's submissions with their grades, without the admin navigation", async () => {
    learnerApi();
    renderLearner(`/quests/${QUEST_ID}`);
    expect(await screen.findByRole("heading", { level: 1, name: "Python" })).toBeInTheDocument();
    expect(screen.getByText("Learn the basics.")).toBeInTheDocument();

    const loops = screen.getByRole("region", { name: "Loops" });
    expect(within(loops).getByText("graded", { selector: ".panel-header .badge" })).toBeInTheDocument();
    const row = within(within(loops).getByTestId(`submissions-${LOOPS}`)).getAllByRole("row")[1];
    expect(row).toHaveTextContent("7.5 / 10");
    expect(row).toHaveTextContent("Mind the edge cases.");
    expect(row).toHaveTextContent("for i in range(3): print(i)");

    const functions = screen.getByRole("region", { name: "Functions" });
    expect(within(functions).getByText("not started")).toBeInTheDocument();
    expect(within(functions).getByText("You have not handed in work for this task yet.")).toBeInTheDocument();

    expect(screen.queryByRole("navigation", { name: "Main" })).not.toBeInTheDocument();
    expect(screen.queryByRole("link", { name: "Subscriptions" })).not.toBeInTheDocument();
    expect(screen.getByText(LEARNER.email)).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Log out" })).toBeInTheDocument();
  });

  it("hands in work through the learning route with the CSRF header, then shows it as submitted", async () => {
    const user = userEvent.setup();
    let work: object[] = [];
    const server = learnerApi({
      [`GET /api/quests/${QUEST_ID}/progress`]: () => ({ body: quest(work) }),
      [`POST /api/tasks/${FUNCTIONS}/submissions`]: (call) => {
        const content = (call.body as { content: string }).content;
        const created = { ...GRADED, id: "55555555-0000-4000-8000-000000000002", task_id: FUNCTIONS, content, status: "submitted", score: null, max_score: null, feedback: null, graded_at: null };
        work = [created];
        return { status: 201, body: created };
      },
    });
    renderLearner(`/quests/${QUEST_ID}`);
    const functions = await screen.findByRole("region", { name: "Functions" });
    await user.type(within(functions).getByLabelText("Your work for Functions"), "def f(): return 1");
    await user.click(within(functions).getByRole("button", { name: "Submit work" }));

    expect(await within(functions).findByText("Your work was handed in.")).toBeInTheDocument();
    const [sent] = server.to(`POST /api/tasks/${FUNCTIONS}/submissions`);
    expect(sent.body).toEqual({ content: "def f(): return 1" });
    expect(sent.headers["X-CSRF-Token"]).toBe("csrf-learner");
    expect(server.to(`GET /api/quests/${QUEST_ID}/progress`)).toHaveLength(2);
    const row = within(within(functions).getByTestId(`submissions-${FUNCTIONS}`)).getAllByRole("row")[1];
    expect(row).toHaveTextContent("submitted");
    expect(row).toHaveTextContent("Not graded yet");
    expect(row).toHaveTextContent("def f(): return 1");
    expect(within(functions).getByLabelText("Your work for Functions")).toHaveValue("");
  });

  it("shows the server's field errors under the work's input", async () => {
    const user = userEvent.setup();
    learnerApi({
      [`POST /api/tasks/${FUNCTIONS}/submissions`]: () =>
        problem(422, "Unprocessable Entity", "the request has invalid fields", { content: ["Shorter than minimum length 1."] }),
    });
    renderLearner(`/quests/${QUEST_ID}`);
    const functions = await screen.findByRole("region", { name: "Functions" });
    await user.click(within(functions).getByRole("button", { name: "Submit work" }));
    const input = within(functions).getByLabelText("Your work for Functions");
    expect(await within(functions).findByText("Shorter than minimum length 1.")).toBeInTheDocument();
    expect(input).toHaveAttribute("aria-invalid", "true");
    expect(input).toHaveAccessibleDescription("Shorter than minimum length 1.");
    expect(within(functions).getByRole("alert")).toHaveTextContent("Unprocessable Entity");
    expect(within(functions).queryByText("Your work was handed in.")).not.toBeInTheDocument();
  });

  it("says so when the quest is not there for this learner", async () => {
    learnerApi({ [`GET /api/quests/${UNKNOWN}/progress`]: () => problem(404, "Not Found", "quest not found") });
    renderLearner(`/quests/${UNKNOWN}`);
    expect(await screen.findByText("Quest not found")).toBeInTheDocument();
  });

  it("asks a signed-out visitor to sign in and then opens the quest at the same address", async () => {
    const user = userEvent.setup();
    let signedIn = false;
    learnerApi({
      "GET /api/auth/me": () => (signedIn ? { body: LEARNER } : problem(401, "Unauthorized", "sign in first")),
      "POST /api/auth/login": () => {
        signedIn = true;
        return { body: { access_token: "t", token_type: "Bearer", expires_in: 900, user: LEARNER, csrf_token: "csrf-learner" } };
      },
    });
    renderLearner(`/quests/${QUEST_ID}`);
    expect(await screen.findByRole("heading", { level: 1, name: "Questbridge" })).toBeInTheDocument();
    await user.type(screen.getByLabelText("Email"), LEARNER.email);
    await user.type(screen.getByLabelText("Password"), "a long passphrase");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("heading", { level: 1, name: "Python" })).toBeInTheDocument();
    expect(screen.getByTestId("location")).toHaveTextContent(`/quests/${QUEST_ID}`);
  });

  it("is chosen by the address: /learn and below, nothing else", () => {
    expect(isLearnerPath("/learn/quests/x")).toBe(true);
    expect(isLearnerPath("/learn")).toBe(true);
    expect(isLearnerPath("/learning")).toBe(false);
    expect(isLearnerPath("/admin/learn")).toBe(false);
  });
});
