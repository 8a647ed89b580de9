import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { renderApp } from "../../test/app";
import { FakeApi, ME, problem, type Call } from "../../test/server";

describe("profile", () => {
  it("is reached from the signed-in email and saves the first and last name", async () => {
    const user = userEvent.setup();
    let me = { ...ME, given_name: "Ada" as string | null, family_name: null as string | null };
    const server = new FakeApi({
      "GET /api/auth/me": () => ({ body: me }),
      "PUT /api/auth/me": (call: Call) => {
        const body = call.body as { given_name: string | null; family_name: string | null };
        if ((body.family_name ?? "").length > 100) {
          return problem(422, "Validation Failed", "family_name: too long", { family_name: ["Longer than maximum length 100."] });
        }
        me = { ...me, ...body };
        return { body: { id: ME.id, ...body } };
      },
    });
    renderApp("/");
    await user.click(await screen.findByRole("link", { name: ME.email }));
    expect(await screen.findByRole("heading", { name: "Your profile" })).toBeInTheDocument();
    expect(screen.getByLabelText("First name")).toHaveValue("Ada");
    expect(screen.getByLabelText("Last name")).toHaveValue("");

    await user.type(screen.getByLabelText("Last name"), "  Lovelace ");
    await user.click(screen.getByRole("button", { name: "Save" }));
    expect(await screen.findByText("Your name was saved.")).toBeInTheDocument();
    expect(server.to("PUT /api/auth/me").at(-1)!.body).toEqual({ given_name: "Ada", family_name: "Lovelace" });

    await user.clear(screen.getByLabelText("First name"));
    await user.click(screen.getByRole("button", { name: "Save" }));
    expect(await screen.findByText("Your name was saved.")).toBeInTheDocument();
    expect(server.to("PUT /api/auth/me").at(-1)!.body).toEqual({ given_name: null, family_name: "Lovelace" });
  });

  it("shows the server's refusal next to the field it names", async () => {
    const user = userEvent.setup();
    new FakeApi({
      "PUT /api/auth/me": problem(422, "Validation Failed", "family_name: too long", {
        family_name: ["Longer than maximum length 100."],
      }),
    });
    renderApp("/profile");
    await user.type(await screen.findByLabelText("Last name"), "Lovelace");
    await user.click(screen.getByRole("button", { name: "Save" }));
    expect(await screen.findByText("Longer than maximum length 100.")).toBeInTheDocument();
    expect(screen.queryByText("Your name was saved.")).not.toBeInTheDocument();
  });
});
