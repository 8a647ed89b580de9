// The signed-in person: their session, their organizations and their password.
import { api } from "../api";
import type { PendingInvitation } from "./invitations";

export interface Organization {
  id: string;
  name: string;
  role: string;
}

export interface Me {
  id: string;
  email: string;
  display_name?: string | null;
  /** What OpenID Connect relying parties (Moodle among them) read as first and last name. */
  given_name?: string | null;
  family_name?: string | null;
  must_change_password?: boolean;
  organizations: Organization[];
  /** Sent back as X-CSRF-Token with unsafe requests; null when not signed in with the cookie. */
  csrf_token?: string | null;
  /** Invitations sent to the caller's email that await their answer. */
  invitations?: PendingInvitation[];
}

// The login form and the session check handle their own 401 (it means "signed out", not "expired").
export function fetchMe(): Promise<Me> {
  return api<Me>("/api/auth/me", { quietUnauthorized: true });
}

export function signIn(email: string, password: string): Promise<{ csrf_token?: string }> {
  return api("/api/auth/login", { method: "POST", body: { email, password }, quietUnauthorized: true });
}

export function signOut(): Promise<unknown> {
  return api("/api/auth/logout", { method: "POST", quietUnauthorized: true });
}

export interface Names {
  given_name: string | null;
  family_name: string | null;
}

/** Set one's own first and last name; blank clears one. */
export function saveNames(names: Names): Promise<Names> {
  return api<Names>("/api/auth/me", { method: "PUT", body: names });
}

export function changePassword(currentPassword: string, newPassword: string): Promise<unknown> {
  return api("/api/auth/password", {
    method: "POST",
    body: { current_password: currentPassword, new_password: newPassword },
  });
}

/** The emailed reset link's token; the answer signs the person in. */
export function resetPassword(token: string | null, password: string): Promise<unknown> {
  return api("/api/auth/password-reset", { method: "POST", body: { token, password }, quietUnauthorized: true });
}
