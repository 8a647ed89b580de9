// The form that registers and edits an LMS platform: what its admin gives us about it.
import { useState, type FormEvent } from "react";
import type { ApiError } from "../../api";
import { PLATFORM_FIELDS, type PlatformFields } from "../../api/ltiPlatforms";
import { Field, FieldMessages, FormActions, hasFieldError, PanelForm } from "../../components/forms";

export const NO_PLATFORM: PlatformFields = {
  name: "",
  issuer: "",
  client_id: "",
  deployment_ids: [""],
  auth_login_url: "",
  auth_token_url: "",
  key_set_url: "",
  auth_token_audience: null,
};

type TextField = Exclude<keyof PlatformFields, "deployment_ids" | "auth_token_audience">;

const TEXT_FIELDS: { name: TextField; label: string; hint: string; url?: boolean }[] = [
  { name: "name", label: "Name", hint: "How this platform is listed here, e.g. “Canvas (production)”." },
  {
    name: "issuer",
    label: "Issuer",
    hint: "Canvas: https://canvas.instructure.com (hosted). Moodle: the site's address (“Platform ID”).",
    url: true,
  },
  { name: "client_id", label: "Client id", hint: "Canvas: the developer key's id. Moodle: the tool's “Client ID”." },
];

const URL_FIELDS: { name: TextField; label: string; hint: string }[] = [
  {
    name: "auth_login_url",
    label: "Authentication request URL",
    hint: "Canvas: https://sso.canvaslms.com/api/lti/authorize_redirect. Moodle: <site>/mod/lti/auth.php.",
  },
  {
    name: "auth_token_url",
    label: "Access token URL",
    hint: "Canvas: https://<your school's Canvas>/login/oauth2/token. Moodle: <site>/mod/lti/token.php.",
  },
  {
    name: "key_set_url",
    label: "Key set URL",
    hint: "Canvas: https://sso.canvaslms.com/api/lti/security/jwks. Moodle: <site>/mod/lti/certs.php.",
  },
];

export function PlatformForm({
  headingId,
  title,
  initial,
  submitLabel,
  busy,
  error,
  onSubmit,
  onCancel,
}: {
  headingId: string;
  title: string;
  initial: PlatformFields;
  submitLabel: string;
  busy: boolean;
  error: ApiError | undefined;
  onSubmit: (values: PlatformFields) => void;
  onCancel?: () => void;
}) {
  const [values, setValues] = useState<PlatformFields>({
    ...initial,
    deployment_ids: initial.deployment_ids.length ? initial.deployment_ids : [""],
  });
  const deployments = values.deployment_ids;
  const setDeployments = (ids: string[]) => setValues({ ...values, deployment_ids: ids });
  const deploymentsInvalid = hasFieldError(error, "deployment_ids");

  function submit(event: FormEvent) {
    event.preventDefault();
    const audience = values.auth_token_audience?.trim();
    onSubmit({
      name: values.name.trim(),
      issuer: values.issuer.trim(),
      client_id: values.client_id.trim(),
      deployment_ids: deployments.map((id) => id.trim()).filter(Boolean),
      auth_login_url: values.auth_login_url.trim(),
      auth_token_url: values.auth_token_url.trim(),
      key_set_url: values.key_set_url.trim(),
      auth_token_audience: audience || null,
    });
  }

  function textField({ name, label, hint, url }: { name: TextField; label: string; hint: string; url?: boolean }) {
    return (
      <Field key={name} label={label} name={name} error={error} hint={hint}>
        {(props) => (
          <input
            {...props}
            name={name}
            type={url ? "url" : "text"}
            inputMode={url ? "url" : undefined}
            required
            spellCheck={false}
            value={values[name]}
            onChange={(event) => setValues({ ...values, [name]: event.target.value })}
          />
        )}
      </Field>
    );
  }

  return (
    <PanelForm headingId={headingId} title={title} onSubmit={submit} error={error} fields={PLATFORM_FIELDS}>
      {TEXT_FIELDS.map(textField)}
      <fieldset
        aria-invalid={deploymentsInvalid || undefined}
        aria-describedby={deploymentsInvalid ? `${headingId}-deployments-error` : undefined}
      >
        <legend>Deployment ids</legend>
        <p className="field-hint">
          Each place the tool is deployed has one. Canvas shows it once the key is deployed (like 5:d3a2…); Moodle lists its
          “Deployment ID” in the tool's configuration details.
        </p>
        {deployments.map((id, index) => (
          <div key={index} className="deployment-row">
            <input
              aria-label={`Deployment id ${index + 1}`}
              spellCheck={false}
              value={id}
              onChange={(event) => setDeployments(deployments.map((old, at) => (at === index ? event.target.value : old)))}
            />
            {deployments.length > 1 && (
              <button
                type="button"
                className="button button-small"
                aria-label={`Remove deployment id ${index + 1}`}
                onClick={() => setDeployments(deployments.filter((_, at) => at !== index))}
              >
                Remove
              </button>
            )}
          </div>
        ))}
        <button type="button" className="button button-small" onClick={() => setDeployments([...deployments, ""])}>
          Add a deployment id
        </button>
      </fieldset>
      <FieldMessages id={`${headingId}-deployments-error`} error={error} name="deployment_ids" />
      {URL_FIELDS.map((field) => textField({ ...field, url: true }))}
      <Field
        label="Token audience (optional)"
        name="auth_token_audience"
        error={error}
        hint="Only when the platform wants another aud than its access token URL in our token requests."
      >
        {(props) => (
          <input
            {...props}
            name="auth_token_audience"
            spellCheck={false}
            value={values.auth_token_audience ?? ""}
            onChange={(event) => setValues({ ...values, auth_token_audience: event.target.value })}
          />
        )}
      </Field>
      <FormActions busy={busy} busyLabel="Saving…" submitLabel={submitLabel} onCancel={onCancel} />
    </PanelForm>
  );
}
