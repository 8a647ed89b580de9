// Webhook subscriptions: their settings, signing secret, test sends and dead deliveries.
import { api } from "../api";
import type { Attempt, DeliveryStatus } from "./deliveries";

export interface EventType {
  type: string;
  description: string;
}

export interface Subscription {
  id: string;
  organization_id: string;
  target_url: string;
  description?: string;
  event_types: string[];
  active: boolean;
  disabled_reason?: string | null;
  failing_since?: string | null;
  previous_secret_expires_at?: string | null;
  created_at: string;
  updated_at?: string;
  secret?: string;
}

/** What a subscription's form edits. */
export interface SubscriptionFields {
  target_url: string;
  description: string;
  event_types: string[];
  active: boolean;
}

/**
 * POST /api/webhooks/test: 200 with the attempt when the engine sent it within the server's short
 * wait; 202 without one (the delivery is queued or being sent: follow it in the delivery log).
 */
export interface TestSendResult {
  delivery_id: string;
  event_id: string;
  status: DeliveryStatus;
  attempt?: Attempt;
}

export const SUBSCRIPTIONS_PATH = "/api/webhooks/subscriptions";
export const EVENT_TYPES_PATH = "/api/webhooks/event-types";

export function subscriptionPath(id: string): string {
  return `${SUBSCRIPTIONS_PATH}/${encodeURIComponent(id)}`;
}

/** New subscriptions start active, so `active` is not sent. */
export function createSubscription(organizationId: string, fields: SubscriptionFields): Promise<Subscription> {
  return api<Subscription>(SUBSCRIPTIONS_PATH, {
    method: "POST",
    body: {
      organization_id: organizationId,
      target_url: fields.target_url,
      event_types: fields.event_types,
      description: fields.description,
    },
  });
}

export function updateSubscription(id: string, fields: SubscriptionFields): Promise<Subscription> {
  return api<Subscription>(subscriptionPath(id), {
    method: "PUT",
    body: {
      target_url: fields.target_url,
      event_types: fields.event_types,
      active: fields.active,
      description: fields.description,
    },
  });
}

export function deleteSubscription(id: string): Promise<unknown> {
  return api(subscriptionPath(id), { method: "DELETE" });
}

export function rotateSubscriptionSecret(id: string, graceSeconds: number): Promise<{ secret: string }> {
  return api<{ secret: string }>(`${subscriptionPath(id)}/rotate-secret`, {
    method: "POST",
    body: { grace_seconds: graceSeconds },
  });
}

export function redeliverDeadOfSubscription(id: string): Promise<{ count: number }> {
  return api<{ count: number }>(`${subscriptionPath(id)}/redeliver-dead`, { method: "POST", body: {} });
}

export function sendTestEvent(subscriptionId: string): Promise<TestSendResult> {
  return api<TestSendResult>("/api/webhooks/test", { method: "POST", body: { subscription_id: subscriptionId } });
}
