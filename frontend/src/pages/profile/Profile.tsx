// The signed-in person's own profile: their first and last name, which applications that sign in
// with Questbridge (OpenID Connect, e.g. Moodle) receive.
import { useState, type FormEvent } from "react";
import { saveNames, type Names } from "../../api/auth";
import { useAuth } from "../../auth";
import { Notice, PageTitle } from "../../components/feedback";
import { Field, FormActions, PanelForm } from "../../components/forms";
import { useAction } from "../../hooks";

const NAME_FIELDS: { name: keyof Names; label: string; autoComplete: string }[] = [
  { name: "given_name", label: "First name", autoComplete: "given-name" },
  { name: "family_name", label: "Last name", autoComplete: "family-name" },
];

export function ProfilePage() {
  const { me, refresh } = useAuth();
  const [names, setNames] = useState<Record<keyof Names, string>>({
    given_name: me?.given_name ?? "",
    family_name: me?.family_name ?? "",
  });
  const [notice, setNotice] = useState<string>();
  const save = useAction(() =>
    saveNames({ given_name: names.given_name.trim() || null, family_name: names.family_name.trim() || null }),
  );

  async function submit(event: FormEvent) {
    event.preventDefault();
    setNotice(undefined);
    if ((await save.run()) === undefined) return;
    setNotice("Your name was saved.");
    await refresh();
  }

  return (
    <>
      <PageTitle>Your profile</PageTitle>
      <p className="muted">Signed in as {me?.email}. Applications you sign in to with Questbridge see the name below.</p>
      <Notice>{notice}</Notice>
      <PanelForm headingId="names-heading" title="Your name" onSubmit={submit} error={save.error} fields={NAME_FIELDS.map((f) => f.name)}>
        {NAME_FIELDS.map(({ name, label, autoComplete }) => (
          <Field key={name} label={label} name={name} error={save.error}>
            {(props) => (
              <input
                {...props}
                name={name}
                autoComplete={autoComplete}
                maxLength={100}
                value={names[name]}
                onChange={(event) => setNames((current) => ({ ...current, [name]: event.target.value }))}
              />
            )}
          </Field>
        ))}
        <FormActions busy={save.busy} busyLabel="Saving…" submitLabel="Save" />
      </PanelForm>
    </>
  );
}
