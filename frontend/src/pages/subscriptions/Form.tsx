// The form that creates and edits a subscription: target, description, event types, state.
import { useState, type FormEvent } from "react";
import type { ApiError } from "../../api";
import { EVENT_TYPES_PATH, type EventType, type SubscriptionFields } from "../../api/subscriptions";
import { EventTypePicker, normalizeTypes } from "../../components/EventTypePicker";
import { ErrorBanner } from "../../components/feedback";
import { Field, FieldMessages, FormActions, hasFieldError } from "../../components/forms";
import { useApi } from "../../hooks";

export function SubscriptionForm({
  initial,
  showActive,
  submitLabel,
  busy,
  error,
  onSubmit,
  onCancel,
}: {
  initial: SubscriptionFields;
  showActive: boolean;
  submitLabel: string;
  busy: boolean;
  error: ApiError | undefined;
  onSubmit: (values: SubscriptionFields) => void;
  onCancel?: () => void;
}) {
  const catalog = useApi<{ data: EventType[] }>(EVENT_TYPES_PATH);
  const [values, setValues] = useState(initial);
  const [localError, setLocalError] = useState<string>();
  const typesErrorId = "event-types-error";
  const typeFields = ["event_types", "event_type"];

  function submit(event: FormEvent) {
    event.preventDefault();
    if (!values.event_types.length) {
      setLocalError("Choose at least one event type.");
      return;
    }
    setLocalError(undefined);
    onSubmit({ ...values, target_url: values.target_url.trim(), event_types: normalizeTypes(values.event_types) });
  }

  const typesInvalid = Boolean(localError) || hasFieldError(error, typeFields);
  return (
    <form className="form" onSubmit={submit} noValidate>
      <ErrorBanner error={error} fields={["target_url", "description", "active", ...typeFields]} />
      <Field
        label="Target URL"
        name="target_url"
        error={error}
        hint="Where the signed POSTs go. HTTPS in production."
      >
        {(props) => (
          <input
            {...props}
            type="url"
            name="target_url"
            inputMode="url"
            required
            placeholder="https://lms.example.org/webhooks/questbridge"
            value={values.target_url}
            onChange={(event) => setValues({ ...values, target_url: event.target.value })}
          />
        )}
      </Field>
      <Field label="Description (optional)" name="description" error={error}>
        {(props) => (
          <input
            {...props}
            name="description"
            maxLength={500}
            value={values.description}
            onChange={(event) => setValues({ ...values, description: event.target.value })}
          />
        )}
      </Field>
      {catalog.error ? (
        <ErrorBanner error={catalog.error} onRetry={catalog.reload} />
      ) : (
        <EventTypePicker
          catalog={catalog.data?.data ?? []}
          value={values.event_types}
          onChange={(types) => setValues({ ...values, event_types: types })}
          describedBy={typesInvalid ? typesErrorId : undefined}
          invalid={typesInvalid}
        />
      )}
      {localError && (
        <div id={typesErrorId} className="field-error">
          {localError}
        </div>
      )}
      {!localError && <FieldMessages id={typesErrorId} error={error} name={typeFields} />}
      {showActive && (
        <label className="check check-strong">
          <input
            type="checkbox"
            name="active"
            checked={values.active}
            onChange={(event) => setValues({ ...values, active: event.target.checked })}
          />
          <span>
            Active
            <span className="check-hint">A disabled subscription receives nothing until it is enabled again.</span>
          </span>
        </label>
      )}
      <FormActions busy={busy} busyLabel="Saving…" submitLabel={submitLabel} onCancel={onCancel} />
    </form>
  );
}
