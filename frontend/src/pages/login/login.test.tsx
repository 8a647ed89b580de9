import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { safeNext } from "../../App";
import { CATALOG, empty, renderApp } from "../../test/app";
import { FakeApi, ME, problem } from "../../test/server";

describe("sign-in", () => {
  it("sends a signed-out visitor to the login page, keeping where they were going", async () => {
    new FakeApi({ "GET /api/auth/me": problem(401, "Unauthorized", "sign in first") });
    renderApp("/deliveries?status=dead");
    expect(await screen.findByRole("button", { name: "Sign in" })).toBeInTheDocument();
    expect(screen.getByTestId("location")).toHaveTextContent("/login?next=%2Fdeliveries%3Fstatus%3Ddead");
  });

  it("shows the server's reason for a refused sign-in, then signs in and goes on", async () => {
    const user = userEvent.setup();
    let signedIn = false;
    const server = new FakeApi({
      "GET /api/auth/me": () => (signedIn ? { body: ME } : problem(401, "Unauthorized", "sign in first")),
      "POST /api/auth/login": (call) => {
        if ((call.body as { password: string }).password !== "right") return problem(401, "Unauthorized", "invalid email or password");
        signedIn = true;
        return { body: { access_token: "x", user: { id: "u1", email: ME.email } } };
      },
      "GET /api/webhooks/deliveries": { body: empty },
      "GET /api/webhooks/subscriptions": { body: empty },
      "GET /api/webhooks/event-types": { body: CATALOG },
    });
    renderApp("/deliveries");
    await user.type(await screen.findByLabelText("Email"), ME.email);
    await user.type(screen.getByLabelText("Password"), "wrong{Enter}");
    expect(await screen.findByRole("alert")).toHaveTextContent("invalid email or password");
    expect(screen.getByLabelText("Password")).toHaveValue("");
    await user.type(screen.getByLabelText("Password"), "right{Enter}");
    expect(await screen.findByRole("heading", { level: 1, name: "Deliveries" })).toBeInTheDocument();
    expect(screen.getByTestId("location")).toHaveTextContent("/deliveries");
    expect(server.to("POST /api/auth/login")[1].body).toEqual({ email: ME.email, password: "right" });
  });

  it("only follows next= inside the app", () => {
    expect(safeNext("/subscriptions")).toBe("/subscriptions");
    expect(safeNext("//evil.example")).toBe("/");
    expect(safeNext("https://evil.example")).toBe("/");
    expect(safeNext("/login")).toBe("/");
    expect(safeNext(null)).toBe("/");
  });

  it("asks for a new password first when one must be changed", async () => {
    new FakeApi({ "GET /api/auth/me": { body: { ...ME, must_change_password: true } } });
    renderApp("/");
    expect(await screen.findByRole("heading", { name: "Choose a new password" })).toBeInTheDocument();
  });

  it("logs out", async () => {
    const user = userEvent.setup();
    let signedIn = true;
    new FakeApi({
      "GET /api/auth/me": () => (signedIn ? { body: ME } : problem(401, "Unauthorized", "sign in first")),
      "POST /api/auth/logout": () => {
        signedIn = false;
        return { status: 204 };
      },
    });
    renderApp("/audit");
    await user.click(await screen.findByRole("button", { name: "Log out" }));
    expect(await screen.findByRole("button", { name: "Sign in" })).toBeInTheDocument();
  });
});
