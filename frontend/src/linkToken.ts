// The single-use token of an emailed link (an invitation, a password reset). It arrives in the
// address's fragment (#token=…), which browsers never send to a server; main.tsx takes it out of
// the address before anything else runs, so it stays in neither the history nor a screenshot,
// nor reaches a script, a Referer or a log. It lives in memory only: a reload forgets it.

export type LinkPage = "invitation" | "reset-password";

const PAGES: LinkPage[] = ["invitation", "reset-password"];

let captured: { page: LinkPage; token: string } | null = null;
let finished = false;

/**
 * Keep the token of an emailed link and remove it from the address. Links sent before tokens moved
 * to the fragment carry it in the query (`?token=`); those are cleaned the same way.
 */
export function captureLinkToken(location: Location = window.location, history: History = window.history): void {
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
  const query = new URLSearchParams(location.search);
  const token = fragment.get("token") || query.get("token");
  if (!fragment.has("token") && !query.has("token")) return;
  query.delete("token");
  const search = query.toString();
  history.replaceState(history.state, "", `${location.pathname}${search ? `?${search}` : ""}`);
  const page = PAGES.find((name) => location.pathname.replace(/\/+$/, "").endsWith(`/${name}`));
  captured = token && page ? { page, token } : null;
}

/** The token captured for `page`, if the app was opened from such a link. */
export function linkToken(page: LinkPage): string | null {
  return captured?.page === page ? captured.token : null;
}

/** The link did its work and the person is signed in: forget its token. */
export function finishLink(): void {
  captured = null;
  finished = true;
}

/** The link was answered without signing anyone in (an invitation declined): forget its token. */
export function forgetLink(): void {
  captured = null;
}

/** Whether a link was used up in this page load (its page then moves on to the dashboard). */
export function linkFinished(): boolean {
  return finished;
}

/** For tests: as if the app had just been opened. */
export function resetLinkToken(): void {
  captured = null;
  finished = false;
}
