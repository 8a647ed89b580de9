// Invitations as their invitee meets them: the emailed link, and the prompt of a signed-in user.
import { api } from "../api";
import type { Organization } from "./auth";

export interface Inviter {
  email: string;
  display_name: string | null;
}

/** An invitation as its invitee sees it, in GET /api/auth/me. */
export interface PendingInvitation {
  id: string;
  organization: { id: string; name: string };
  role: string;
  invited_by: Inviter | null;
  created_at: string;
  expires_at: string;
}

/** What an emailed invitation link offers (POST /api/invitations/lookup). */
export interface InvitationPreview {
  id: string;
  email: string;
  role: string;
  organization: { id: string; name: string };
  invited_by: Inviter | null;
  expires_at: string;
  /** The email has an account: its owner signs in to accept; else they choose a password. */
  account_exists: boolean;
}

// The link pages work signed out, so a 401 there is the page's to explain, not a lost session.
export function lookupInvitation(token: string, signal?: AbortSignal): Promise<InvitationPreview> {
  return api<InvitationPreview>("/api/invitations/lookup", {
    method: "POST",
    body: { token },
    signal,
    quietUnauthorized: true,
  });
}

/** Accept by link; a new account sends the password it chose. */
export function acceptInvitationLink(token: string | null, password?: string): Promise<{ organization: Organization }> {
  return api("/api/invitations/accept", {
    method: "POST",
    body: password === undefined ? { token } : { token, password },
    quietUnauthorized: true,
  });
}

export function declineInvitationLink(token: string | null): Promise<unknown> {
  return api("/api/invitations/decline", { method: "POST", body: { token }, quietUnauthorized: true });
}

/** Answer an invitation to the signed-in user's email. */
export function answerInvitation(id: string, action: "accept" | "decline"): Promise<unknown> {
  return api(`/api/invitations/${encodeURIComponent(id)}/${action}`, { method: "POST" });
}
