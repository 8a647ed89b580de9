// Deliveries of outbound webhooks: the log, one delivery's attempts, and redelivery.
import { api } from "../api";

export type DeliveryStatus = "pending" | "delivering" | "retrying" | "delivered" | "dead";
/** Every status a delivery can be in (the API documents them but does not list them). */
export const DELIVERY_STATUSES: DeliveryStatus[] = ["pending", "delivering", "retrying", "delivered", "dead"];

export interface Delivery {
  id: string;
  event_id: string;
  subscription_id: string;
  event_type: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: string | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: string;
  delivered_at: string | null;
}

export interface Attempt {
  attempt: number;
  started_at: string;
  duration_ms: number | null;
  status_code: number | null;
  error: string | null;
  response_body: string | null;
}

export interface DeliveryDetail extends Delivery {
  attempts_log: Attempt[];
  payload?: unknown;
}

export const DELIVERIES_PATH = "/api/webhooks/deliveries";

export function deliveryPath(id: string): string {
  return `${DELIVERIES_PATH}/${encodeURIComponent(id)}`;
}

export function redeliverDelivery(id: string): Promise<Delivery> {
  return api<Delivery>(`${deliveryPath(id)}/redeliver`, { method: "POST" });
}

/** Queues every dead delivery of the organization again, in one request. */
export function redeliverDeadOfOrganization(organizationId: string): Promise<{ count: number }> {
  return api<{ count: number }>(`${DELIVERIES_PATH}/redeliver-dead`, {
    method: "POST",
    body: { organization_id: organizationId },
  });
}
