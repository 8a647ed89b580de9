// Pieces the subscription pages share: how a subscription's event types and state read.
import type { Subscription } from "../../api/subscriptions";
import { StatusBadge } from "../../components/display";

export function TypeList({ types }: { types: string[] }) {
  return (
    <span className="types">
      {types.map((type) => (
        <code key={type}>{type === "*" ? "* (every event)" : type}</code>
      ))}
    </span>
  );
}

export function SubscriptionState({ subscription }: { subscription: Subscription }) {
  if (subscription.active) return <StatusBadge status="active" />;
  return (
    <>
      <StatusBadge status="disabled" />
      {subscription.disabled_reason && <div className="muted small">{subscription.disabled_reason}</div>}
    </>
  );
}
