// The form that registers an OAuth client: redirect URIs, scopes, public or confidential.
import { useState, type FormEvent } from "react";
import { createClient, SCOPES, type OAuthClient } from "../../api/oauthClients";
import { Field, FieldMessages, hasFieldError, lines, FormActions, PanelForm } from "../../components/forms";
import { useAction } from "../../hooks";

export function CreateClientForm({
  organizationId,
  onCreated,
  onCancel,
}: {
  organizationId: string;
  onCreated: (client: OAuthClient) => void;
  onCancel: () => void;
}) {
  const [name, setName] = useState("");
  const [redirects, setRedirects] = useState("");
  const [scopes, setScopes] = useState<string[]>(["read:profile"]);
  const [machine, setMachine] = useState(false);
  const [isPublic, setIsPublic] = useState(false);
  const create = useAction(() =>
    createClient(organizationId, {
      name: name.trim(),
      redirect_uris: lines(redirects),
      scopes,
      public: isPublic,
      client_credentials: machine,
    }),
  );

  async function submit(event: FormEvent) {
    event.preventDefault();
    const client = await create.run();
    if (client) onCreated(client);
  }

  return (
    <PanelForm
      headingId="new-client-heading"
      title="New OAuth client"
      onSubmit={submit}
      error={create.error}
      fields={["name", "redirect_uris", "scopes", "scope", "grant_types"]}
    >
      <Field label="Name" name="name" error={create.error} hint="Shown to users on the consent screen.">
        {(props) => <input {...props} name="name" required maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <Field
        label="Redirect URIs"
        name="redirect_uris"
        error={create.error}
        hint="One per line, matched exactly. HTTPS, or http://127.0.0.1 for local tools."
      >
        {(props) => (
          <textarea
            {...props}
            name="redirect_uris"
            rows={3}
            value={redirects}
            placeholder="https://lms.example.org/oauth/callback"
            onChange={(e) => setRedirects(e.target.value)}
          />
        )}
      </Field>
      <fieldset className="picker" aria-invalid={hasFieldError(create.error, ["scopes", "scope"]) || undefined}>
        <legend>Scopes</legend>
        <div className="picker-options">
          {SCOPES.map((scope) => (
            <label key={scope.value} className="check">
              <input
                type="checkbox"
                value={scope.value}
                checked={scopes.includes(scope.value)}
                onChange={(event) =>
                  setScopes(
                    event.target.checked ? [...scopes, scope.value] : scopes.filter((item) => item !== scope.value),
                  )
                }
              />
              <span>
                <code>{scope.value}</code>
                <span className="check-hint">{scope.label}</span>
              </span>
            </label>
          ))}
        </div>
      </fieldset>
      <FieldMessages id="scopes-error" error={create.error} name={["scopes", "scope"]} />
      <FieldMessages id="grant-types-error" error={create.error} name="grant_types" />
      <label className="check">
        <input type="checkbox" checked={isPublic} onChange={(event) => setIsPublic(event.target.checked)} />
        <span>
          Public client
          <span className="check-hint">No secret (an app in a browser or on a phone); PKCE protects its sign-ins.</span>
        </span>
      </label>
      <label className={`check${isPublic ? " check-disabled" : ""}`}>
        <input
          type="checkbox"
          checked={machine && !isPublic}
          disabled={isPublic}
          onChange={(event) => setMachine(event.target.checked)}
        />
        <span>
          Also allow client credentials
          <span className="check-hint">For server-to-server calls without a user.</span>
        </span>
      </label>
      <FormActions busy={create.busy} busyLabel="Creating…" submitLabel="Create client" onCancel={onCancel} />
    </PanelForm>
  );
}
