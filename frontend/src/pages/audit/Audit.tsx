import { AUDIT_PATH, type AuditEntry } from "../../api/audit";
import { useOrganization } from "../../auth";
import { Breakable, FullId, Time } from "../../components/display";
import { Empty, PageTitle } from "../../components/feedback";
import { PagedTable, Table } from "../../components/Table";
import { usePagedList } from "../../hooks";

function describeMetadata(metadata: Record<string, unknown> | null): string {
  if (!metadata) return "";
  return Object.entries(metadata)
    .filter(([, value]) => value !== null && value !== undefined && value !== "")
    .map(([key, value]) => `${key}: ${typeof value === "object" ? JSON.stringify(value) : String(value)}`)
    .join(" · ");
}

export function AuditPage() {
  const organization = useOrganization();
  const list = usePagedList<AuditEntry>(AUDIT_PATH, { organization_id: organization.id, limit: 50 });
  return (
    <>
      <PageTitle>Audit log</PageTitle>
      <p className="muted">Who changed what in {organization.name}, newest first.</p>
      <PagedTable
        what="Audit log"
        list={list}
        empty={
          <Empty title="Nothing recorded yet">Changes to subscriptions, keys and clients appear here.</Empty>
        }
      >
        {/* Fixed widths so long details and ids wrap and every column, IP too, fits 1280 px. */}
        <Table
          testId="audit-table"
          className="table-audit"
          columns={["When", "Action", "Who", "Target", "Details", "IP"]}
          colgroup={
            <colgroup>
              <col className="col-when" />
              <col className="col-action" />
              <col className="col-who" />
              <col className="col-target" />
              <col className="col-details" />
              <col className="col-ip" />
            </colgroup>
          }
        >
          {list.items?.map((entry) => (
            <tr key={entry.id}>
              <td data-label="When">
                <Time value={entry.created_at} />
              </td>
              <th scope="row" data-label="Action">
                <code>
                  <Breakable text={entry.action} />
                </code>
              </th>
              <td data-label="Who" className="audit-who">
                {entry.actor_email ? <Breakable text={entry.actor_email} /> : (entry.actor_id ? <FullId value={entry.actor_id} /> : <span className="muted">system</span>)}
              </td>
              <td data-label="Target" className="audit-target">
                {entry.target_type ? (
                  <>
                    <span className="audit-target-type">
                      <Breakable text={entry.target_type} />
                    </span> <FullId value={entry.target_id} />
                  </>
                ) : (
                  <span className="muted">—</span>
                )}
              </td>
              <td data-label="Details" className="small">
                {describeMetadata(entry.metadata) || <span className="muted">—</span>}
              </td>
              <td data-label="IP">{entry.ip ?? <span className="muted">—</span>}</td>
            </tr>
          ))}
        </Table>
      </PagedTable>
    </>
  );
}
