// /lti-platforms/new: first what to paste into the LMS (it hands out the client and deployment ids
// only once it has the tool's URLs), then the form for what the LMS gave; saving opens the platform.
import { useNavigate } from "react-router-dom";
import { createPlatform, TOOL_PATH, type PlatformFields, type ToolUrls } from "../../api/ltiPlatforms";
import { useOrganization } from "../../auth";
import { LoadState, PageTitle } from "../../components/feedback";
import { useAction, useApi } from "../../hooks";
import { NO_PLATFORM, PlatformForm } from "./Form";
import { CanvasValues, MoodleValues } from "./PasteValues";

export function NewLtiPlatformPage() {
  const organization = useOrganization();
  const navigate = useNavigate();
  const tool = useApi<ToolUrls>(TOOL_PATH);
  const create = useAction((values: PlatformFields) => createPlatform(organization.id, values));

  return (
    <>
      <PageTitle>New LMS platform</PageTitle>
      <section className="step" aria-labelledby="new-platform-paste-heading">
        <h2 id="new-platform-paste-heading">1. Paste these into your LMS</h2>
        <p className="muted">
          Canvas and Moodle give the client id and deployment id only once the tool is set up in them. Paste these values
          there first, in Canvas or in Moodle.
        </p>
        <LoadState
          what="Tool addresses"
          loading={tool.loading}
          error={tool.error}
          hasData={Boolean(tool.data)}
          onRetry={tool.reload}
        >
          {tool.data && (
            <div className="grid-2">
              <CanvasValues tool={tool.data} level={3} />
              <MoodleValues tool={tool.data} level={3} />
            </div>
          )}
        </LoadState>
      </section>
      <PlatformForm
        headingId="new-platform-heading"
        title="2. Enter what the LMS gave you"
        initial={NO_PLATFORM}
        submitLabel="Register platform"
        busy={create.busy}
        error={create.error}
        onSubmit={async (values) => {
          const platform = await create.run(values);
          if (platform) navigate(`/lti-platforms/${platform.id}`, { state: { created: true } });
        }}
        onCancel={() => navigate("/lti-platforms")}
      />
    </>
  );
}
