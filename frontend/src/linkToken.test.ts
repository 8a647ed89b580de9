import { afterEach, describe, expect, it } from "vitest";
import { captureLinkToken, finishLink, linkFinished, linkToken, resetLinkToken } from "./linkToken";

function open(address: string) {
  window.history.replaceState(null, "", address);
}

afterEach(() => {
  resetLinkToken();
  open("/");
});

describe("the token of an emailed link", () => {
  it("is taken from the fragment and removed from the address", () => {
    open("/admin/invitation#token=abc_DEF-123");
    const entries = window.history.length;

    captureLinkToken();

    expect(window.location.pathname).toBe("/admin/invitation");
    expect(window.location.hash).toBe("");
    expect(window.location.href).not.toContain("abc_DEF-123");
    expect(window.history.length).toBe(entries); // replaced, not pushed: Back does not bring it back
    expect(linkToken("invitation")).toBe("abc_DEF-123");
    expect(linkToken("reset-password")).toBeNull();
  });

  it("is taken from the query of older links, keeping the rest of the query", () => {
    open("/admin/reset-password?token=old-style-token&lang=en");

    captureLinkToken();

    expect(window.location.search).toBe("?lang=en");
    expect(window.location.href).not.toContain("old-style-token");
    expect(linkToken("reset-password")).toBe("old-style-token");
  });

  it("is removed from any page's address, but kept only for the page it is meant for", () => {
    open("/admin/deliveries#token=stray");

    captureLinkToken();

    expect(window.location.href).not.toContain("stray");
    expect(linkToken("invitation")).toBeNull();
    expect(linkToken("reset-password")).toBeNull();
  });

  it("leaves an address without a token alone", () => {
    open("/admin/subscriptions?status=active#section");

    captureLinkToken();

    expect(window.location.search).toBe("?status=active");
    expect(window.location.hash).toBe("#section");
  });

  it("is forgotten once the link did its work", () => {
    open("/admin/invitation#token=spent");
    captureLinkToken();

    finishLink();

    expect(linkToken("invitation")).toBeNull();
    expect(linkFinished()).toBe(true);
  });

  it("is taken by the first module main.tsx loads, before the app's own", async () => {
    open("/admin/reset-password#token=first-thing");

    await import("./boot");

    expect(window.location.href).not.toContain("first-thing");
    expect(linkToken("reset-password")).toBe("first-thing");
  });
});
