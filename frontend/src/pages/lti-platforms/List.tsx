// /lti-platforms: the organization's LMS platforms (LTI 1.3 registrations).
import { Link } from "react-router-dom";
import { PLATFORMS_PATH, type LtiPlatform } from "../../api/ltiPlatforms";
import { useOrganization } from "../../auth";
import { Time } from "../../components/display";
import { Empty, PageTitle } from "../../components/feedback";
import { PagedTable, Table } from "../../components/Table";
import { usePagedList } from "../../hooks";

export function LtiPlatformsPage() {
  const organization = useOrganization();
  const list = usePagedList<LtiPlatform>(PLATFORMS_PATH, { organization_id: organization.id });

  return (
    <>
      <PageTitle
        actions={
          <Link className="button button-primary" to="/lti-platforms/new">
            New LMS platform
          </Link>
        }
      >
        LMS platforms
      </PageTitle>
      <p className="muted">
        Canvas, Moodle and other LMSs that launch learners into quests (LTI 1.3). Open a platform to see what to paste into
        it.
      </p>
      <PagedTable
        what="LMS platforms"
        list={list}
        empty={
          <Empty title="No LMS platforms yet">
            Register the Canvas or Moodle site that will place quests in its courses.{" "}
            <Link to="/lti-platforms/new">Register the first one</Link>.
          </Empty>
        }
      >
        <Table testId="platforms-table" columns={["Name", "Issuer", "Client id", "Deployments", "Created"]}>
          {list.items?.map((platform) => (
            <tr key={platform.id}>
              <th scope="row" data-label="Name">
                <Link to={`/lti-platforms/${platform.id}`}>{platform.name}</Link>
              </th>
              <td data-label="Issuer">
                <span className="url">{platform.issuer}</span>
              </td>
              <td data-label="Client id">
                <code>{platform.client_id}</code>
              </td>
              <td data-label="Deployments">
                <span className="types">
                  {platform.deployment_ids.map((id) => (
                    <code key={id}>{id}</code>
                  ))}
                </span>
              </td>
              <td data-label="Created">
                <Time value={platform.created_at} />
              </td>
            </tr>
          ))}
        </Table>
      </PagedTable>
    </>
  );
}
