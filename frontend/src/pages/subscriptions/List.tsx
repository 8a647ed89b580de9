// /subscriptions: the organization's webhook subscriptions.
import { Link } from "react-router-dom";
import { SUBSCRIPTIONS_PATH, type Subscription } from "../../api/subscriptions";
import { useOrganization } from "../../auth";
import { Time } from "../../components/display";
import { Empty, LoadMore, LoadState, PageTitle } from "../../components/feedback";
import { usePagedList } from "../../hooks";
import { SubscriptionState, TypeList } from "./parts";

export function SubscriptionsPage() {
  const organization = useOrganization();
  const list = usePagedList<Subscription>(SUBSCRIPTIONS_PATH, { organization_id: organization.id });

  return (
    <>
      <PageTitle
        actions={
          <Link className="button button-primary" to="/subscriptions/new">
            New subscription
          </Link>
        }
      >
        Subscriptions
      </PageTitle>
      <LoadState what="Subscriptions" loading={list.loading} error={list.error} hasData={Boolean(list.items)} onRetry={list.reload}>
        {list.items && list.items.length === 0 ? (
          <Empty title="No subscriptions yet">
            A subscription sends signed webhooks to a partner's URL when events happen.{" "}
            <Link to="/subscriptions/new">Create the first one</Link>.
          </Empty>
        ) : (
          <div className="table-wrap">
            <table className="table table-stack" data-testid="subscriptions-table">
              <thead>
                <tr>
                  <th scope="col">Target URL</th>
                  <th scope="col">Event types</th>
                  <th scope="col">State</th>
                  <th scope="col">Created</th>
                </tr>
              </thead>
              <tbody>
                {list.items?.map((subscription) => (
                  <tr key={subscription.id}>
                    <th scope="row" data-label="Target URL">
                      <Link to={`/subscriptions/${subscription.id}`} className="url">
                        {subscription.target_url}
                      </Link>
                      {subscription.description && <div className="muted small">{subscription.description}</div>}
                    </th>
                    <td data-label="Event types">
                      <TypeList types={subscription.event_types} />
                    </td>
                    <td data-label="State">
                      <SubscriptionState subscription={subscription} />
                    </td>
                    <td data-label="Created">
                      <Time value={subscription.created_at} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <LoadMore list={list} />
      </LoadState>
    </>
  );
}

