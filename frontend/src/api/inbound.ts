// Inbound events (grades and other senders' events) and the organization's autograder secret.
import { api } from "../api";

export interface InboundEvent {
  id: string;
  source: string;
  status: "pending" | "processing" | "processed" | "failed" | "dead" | string;
  attempts: number;
  error: string | null;
  received_at: string;
  processed_at: string | null;
  type?: string | null;
  outcome?: string | null;
  organization_id?: string | null;
  provider_event_id?: string | null;
  next_attempt_at?: string | null;
  payload?: unknown;
}

/** Every status an inbound event can be in (the API does not list them). */
export const INBOUND_STATUSES = ["pending", "processing", "processed", "failed", "dead", "ignored"];

/** An organization's own autograder secret, as GET shows it (never the secret itself). */
export interface AutograderSecret {
  organization_id: string;
  configured: boolean;
  created_at: string | null;
  rotated_at: string | null;
  created_by: string | null;
  rotated_by: string | null;
  previous_secret_expires_at: string | null;
}

export const INBOUND_EVENTS_PATH = "/api/inbound/events";
export const AUTOGRADER_SECRETS_PATH = "/api/inbound/autograder-secrets";

export function inboundEventPath(id: string): string {
  return `${INBOUND_EVENTS_PATH}/${encodeURIComponent(id)}`;
}

export function retryInboundEvent(id: string): Promise<InboundEvent> {
  return api<InboundEvent>(`${inboundEventPath(id)}/retry`, { method: "POST" });
}

/** Issues the organization's secret, or a new one; the old one verifies for the grace period. */
export function rotateAutograderSecret(
  organizationId: string,
  graceSeconds: number,
): Promise<AutograderSecret & { secret: string }> {
  return api(`${AUTOGRADER_SECRETS_PATH}/rotate`, {
    method: "POST",
    body: { organization_id: organizationId, grace_seconds: graceSeconds },
  });
}
