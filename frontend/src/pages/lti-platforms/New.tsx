// /lti-platforms/new: register an LMS platform, then open it to see what to paste into it.
import { useNavigate } from "react-router-dom";
import { createPlatform, type PlatformFields } from "../../api/ltiPlatforms";
import { useOrganization } from "../../auth";
import { PageTitle } from "../../components/feedback";
import { useAction } from "../../hooks";
import { NO_PLATFORM, PlatformForm } from "./Form";

export function NewLtiPlatformPage() {
  const organization = useOrganization();
  const navigate = useNavigate();
  const create = useAction((values: PlatformFields) => createPlatform(organization.id, values));

  return (
    <>
      <PageTitle>New LMS platform</PageTitle>
      <p className="muted">
        Enter what the platform's admin sees for the tool (in Canvas, the developer key; in Moodle, the tool's configuration
        details). Once saved, this platform's page shows what to paste back into the platform.
      </p>
      <PlatformForm
        headingId="new-platform-heading"
        title="Platform"
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
