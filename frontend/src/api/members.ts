// An organization's members and the invitations its admins sent.
import { api } from "../api";
import type { Inviter } from "./invitations";

export interface Member {
  user_id: string;
  email: string;
  display_name: string | null;
  role: string;
  created_at: string;
}

export type InvitationStatus = "pending" | "accepted" | "declined" | "revoked" | "expired";

/** An invitation as its organization's admins see it: nothing about the person until they accept. */
export interface Invitation {
  id: string;
  organization_id: string;
  email: string;
  role: string;
  status: InvitationStatus;
  invited_by: Inviter | null;
  created_at: string;
  sent_at: string;
  expires_at: string;
  responded_at: string | null;
  /** On create and resend: whether a mail server took the email. */
  invitation_sent?: boolean;
}

/** The roles an invitation may give (the API does not list them). */
export const ROLES = [
  { value: "member", label: "Member" },
  { value: "admin", label: "Admin (manages the organization)" },
];

function organizationPath(organizationId: string): string {
  return `/api/organizations/${encodeURIComponent(organizationId)}`;
}

export function membersPath(organizationId: string): string {
  return `${organizationPath(organizationId)}/members`;
}

export function invitationsPath(organizationId: string): string {
  return `${organizationPath(organizationId)}/invitations`;
}

function memberPath(organizationId: string, userId: string): string {
  return `${membersPath(organizationId)}/${encodeURIComponent(userId)}`;
}

function invitationPath(organizationId: string, invitationId: string): string {
  return `${invitationsPath(organizationId)}/${encodeURIComponent(invitationId)}`;
}

export function inviteMember(organizationId: string, email: string, role: string): Promise<Invitation> {
  return api<Invitation>(membersPath(organizationId), { method: "POST", body: { email, role } });
}

export function leaveOrganization(organizationId: string): Promise<unknown> {
  return api(`${membersPath(organizationId)}/me`, { method: "DELETE" });
}

export function removeMember(organizationId: string, userId: string): Promise<unknown> {
  return api(memberPath(organizationId, userId), { method: "DELETE" });
}

export function sendPasswordReset(organizationId: string, userId: string): Promise<unknown> {
  return api(`${memberPath(organizationId, userId)}/password-reset`, { method: "POST" });
}

export function resendInvitation(organizationId: string, invitationId: string): Promise<Invitation> {
  return api<Invitation>(`${invitationPath(organizationId, invitationId)}/resend`, { method: "POST" });
}

export function revokeInvitation(organizationId: string, invitationId: string): Promise<unknown> {
  return api(invitationPath(organizationId, invitationId), { method: "DELETE" });
}
