// /subscriptions/new: create a subscription and show its signing secret once.
import { useState } from "react";
import { Link, useNavigate } from "react-router-dom";
import { createSubscription, type Subscription, type SubscriptionFields } from "../../api/subscriptions";
import { useOrganization } from "../../auth";
import { PageTitle } from "../../components/feedback";
import { SecretReveal } from "../../components/SecretReveal";
import { useAction } from "../../hooks";
import { SubscriptionForm } from "./Form";

export function NewSubscriptionPage() {
  const organization = useOrganization();
  const navigate = useNavigate();
  const [created, setCreated] = useState<Subscription>();
  const create = useAction((values: SubscriptionFields) => createSubscription(organization.id, values));

  if (created) {
    return (
      <>
        <PageTitle>Subscription created</PageTitle>
        <div className="panel">
          <p>
            Deliveries to <span className="url">{created.target_url}</span> are signed with this secret (Standard
            Webhooks, <code>webhook-signature</code> header).
          </p>
          {created.secret && (
            <SecretReveal label="Signing secret" secret={created.secret} onDone={() => navigate(`/subscriptions/${created.id}`)} />
          )}
          <p>
            <Link to={`/subscriptions/${created.id}`}>Open the subscription</Link> to send a test event.
          </p>
        </div>
      </>
    );
  }

  return (
    <>
      <PageTitle>New subscription</PageTitle>
      <div className="panel">
        <SubscriptionForm
          initial={{ target_url: "", description: "", event_types: [], active: true }}
          showActive={false}
          submitLabel="Create subscription"
          busy={create.busy}
          error={create.error}
          onSubmit={async (values) => {
            const subscription = await create.run(values);
            if (subscription) setCreated(subscription);
          }}
          onCancel={() => navigate("/subscriptions")}
        />
      </div>
    </>
  );
}
