// /lti-platforms/:id: what to paste into the platform, the platform's settings, and deletion.
import { useState } from "react";
import { Link, useLocation, useNavigate, useParams } from "react-router-dom";
import {
  deletePlatform,
  platformPath,
  updatePlatform,
  type LtiPlatform,
  type PlatformFields,
} from "../../api/ltiPlatforms";
import { ConfirmDialog } from "../../components/Dialog";
import { Time } from "../../components/display";
import { LoadState, Notice, PageTitle } from "../../components/feedback";
import { useAction, useApi } from "../../hooks";
import { PlatformForm } from "./Form";
import { CanvasValues, MoodleValues } from "./PasteValues";

function fieldsOf(platform: LtiPlatform): PlatformFields {
  return {
    name: platform.name,
    issuer: platform.issuer,
    client_id: platform.client_id,
    deployment_ids: platform.deployment_ids,
    auth_login_url: platform.auth_login_url,
    auth_token_url: platform.auth_token_url,
    key_set_url: platform.key_set_url,
    auth_token_audience: platform.auth_token_audience ?? null,
  };
}

export function LtiPlatformDetailPage() {
  const { id = "" } = useParams();
  const navigate = useNavigate();
  const created = Boolean((useLocation().state as { created?: boolean } | null)?.created);
  const platform = useApi<LtiPlatform>(platformPath(id));
  const [notice, setNotice] = useState<string | undefined>(
    created ? "Platform registered. Paste these values into it." : undefined,
  );
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [formKey, setFormKey] = useState(0);
  const save = useAction((values: PlatformFields) => updatePlatform(id, values));
  const remove = useAction(() => deletePlatform(id));

  const data = platform.data;
  return (
    <>
      <PageTitle>{data ? data.name : "LMS platform"}</PageTitle>
      <p className="breadcrumbs">
        <Link to="/lti-platforms">← All LMS platforms</Link>
      </p>
      <LoadState
        what="LMS platform"
        loading={platform.loading}
        error={platform.error}
        hasData={Boolean(data)}
        onRetry={platform.reload}
        notFoundHint="It may have been deleted."
      >
        {data && (
          <>
            <Notice>{notice}</Notice>
            <div className="grid-2">
              <div className="stack">
                <CanvasValues tool={data.tool} />
                <MoodleValues tool={data.tool} />
              </div>
              <div className="stack">
                <section className="panel" aria-labelledby="platform-facts-heading">
                  <h2 id="platform-facts-heading">Registration</h2>
                  <dl className="facts">
                    <dt>Id</dt>
                    <dd>
                      <code>{data.id}</code>
                    </dd>
                    <dt>Created</dt>
                    <dd>
                      <Time value={data.created_at} />
                    </dd>
                  </dl>
                </section>
                <PlatformForm
                  key={formKey}
                  headingId="platform-settings-heading"
                  title="What the platform gave"
                  initial={fieldsOf(data)}
                  submitLabel="Save changes"
                  busy={save.busy}
                  error={save.error}
                  onSubmit={async (values) => {
                    setNotice(undefined);
                    if (await save.run(values)) {
                      setNotice("Platform saved.");
                      await platform.reload();
                      setFormKey((key) => key + 1);
                    }
                  }}
                />
                <section className="panel" aria-labelledby="platform-delete-heading">
                  <h2 id="platform-delete-heading">Deletion</h2>
                  <button type="button" className="button button-danger" onClick={() => setConfirmDelete(true)}>
                    Delete platform…
                  </button>
                </section>
              </div>
            </div>
          </>
        )}
      </LoadState>

      {confirmDelete && data && (
        <ConfirmDialog
          title="Delete this LMS platform?"
          confirmLabel="Delete"
          danger
          action={remove}
          onCancel={() => setConfirmDelete(false)}
          onConfirm={async () => {
            if ((await remove.run()) !== undefined) navigate("/lti-platforms", { replace: true });
          }}
        >
          <p>
            Launches from {data.name} (<span className="url">{data.issuer}</span>) are refused from now on. This cannot
            be undone.
          </p>
        </ConfirmDialog>
      )}
    </>
  );
}
