// /subscriptions: the organization's webhook subscriptions.
import { Link } from "react-router-dom";
import { SUBSCRIPTIONS_PATH, type Subscription } from "../../api/subscriptions";
import { useOrganization } from "../../auth";
import { Time } from "../../components/display";
import { Empty, PageTitle } from "../../components/feedback";
import { PagedTable, Table } from "../../components/Table";
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
      <PagedTable
        what="Subscriptions"
        list={list}
        empty={
          <Empty title="No subscriptions yet">
            A subscription sends signed webhooks to a partner's URL when events happen.{" "}
            <Link to="/subscriptions/new">Create the first one</Link>.
          </Empty>
        }
      >
        <Table testId="subscriptions-table" columns={["Target URL", "Event types", "State", "Created"]}>
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
        </Table>
      </PagedTable>
    </>
  );
}

