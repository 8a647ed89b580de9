import { useEffect, useId, useState, type KeyboardEvent } from "react";
import type { EventType } from "../api/subscriptions";

export const WILDCARD = "*";
const CUSTOM_TYPE = /^[a-z0-9_]+(\.[a-z0-9_]+)+$/;
const TYPE_HINT = "Use a dotted lower-case name such as partner.thing_happened.";

/** A catalog type or a partner's custom dotted name (what `/v1/external/events` accepts). */
export function isEventTypeName(name: string): boolean {
  return CUSTOM_TYPE.test(name) && name.length <= 128;
}

interface EventTypePickerProps {
  catalog: EventType[];
  value: string[];
  onChange: (types: string[]) => void;
  describedBy?: string;
  invalid?: boolean;
}

/**
 * Checkboxes for the catalog, "every event" (*), and custom dotted names partners push.
 * Choosing every event makes the others moot, so they are disabled while it is on.
 */
export function EventTypePicker({ catalog, value, onChange, describedBy, invalid }: EventTypePickerProps) {
  const legendId = useId();
  const customId = useId();
  const [custom, setCustom] = useState("");
  const [customError, setCustomError] = useState<string>();
  const all = value.includes(WILDCARD);
  const known = new Set(catalog.map((entry) => entry.type));
  const customTypes = value.filter((type) => type !== WILDCARD && !known.has(type));

  function toggle(type: string, checked: boolean) {
    onChange(checked ? [...value.filter((item) => item !== type), type] : value.filter((item) => item !== type));
  }

  function addCustom() {
    const name = custom.trim();
    if (!name) return;
    if (!isEventTypeName(name)) {
      setCustomError(TYPE_HINT);
      return;
    }
    setCustomError(undefined);
    if (!value.includes(name)) onChange([...value, name]);
    setCustom("");
  }

  function onCustomKey(event: KeyboardEvent<HTMLInputElement>) {
    if (event.key === "Enter") {
      event.preventDefault();
      addCustom();
    }
  }

  return (
    <fieldset className="picker" aria-describedby={describedBy} aria-invalid={invalid || undefined}>
      <legend id={legendId}>Event types</legend>
      <label className="check check-strong">
        <input type="checkbox" checked={all} onChange={(event) => toggle(WILDCARD, event.target.checked)} />
        <span>
          Every event <code>*</code>
          <span className="check-hint">Current and future types, including partners' custom events.</span>
        </span>
      </label>
      <div className="picker-options">
        {catalog.map((entry) => (
          <label key={entry.type} className={`check${all ? " check-disabled" : ""}`}>
            <input
              type="checkbox"
              value={entry.type}
              checked={all || value.includes(entry.type)}
              disabled={all}
              onChange={(event) => toggle(entry.type, event.target.checked)}
            />
            <span>
              <code>{entry.type}</code>
              <span className="check-hint">{entry.description}</span>
            </span>
          </label>
        ))}
      </div>
      {customTypes.length > 0 && (
        <ul className="chips" aria-label="Custom event types">
          {customTypes.map((type) => (
            <li key={type} className="chip">
              <code>{type}</code>
              <button type="button" className="chip-remove" aria-label={`Remove ${type}`} onClick={() => toggle(type, false)}>
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
      <div className="picker-custom">
        <label htmlFor={customId}>Custom event type</label>
        <div className="inline">
          <input
            id={customId}
            value={custom}
            placeholder="partner.thing_happened"
            onChange={(event) => setCustom(event.target.value)}
            onKeyDown={onCustomKey}
            disabled={all}
            aria-invalid={Boolean(customError)}
          />
          <button type="button" className="button" onClick={addCustom} disabled={all || !custom.trim()}>
            Add
          </button>
        </div>
        {customError && <div className="field-error">{customError}</div>}
      </div>
    </fieldset>
  );
}

/** What is sent: `*` alone when every event is chosen. */
export function normalizeTypes(types: string[]): string[] {
  return types.includes(WILDCARD) ? [WILDCARD] : types;
}

interface EventTypeFilterProps {
  id: string;
  /** The filter in force ("" for any type). */
  value: string;
  /** Offered in the list: the catalog and the types seen in loaded rows. Any dotted name can be typed. */
  suggestions: string[];
  onChange: (type: string) => void;
}

/**
 * A free-text event type filter with suggestions, so partners' custom types can be chosen too.
 * It applies on Enter, on leaving the field, or at once when the text is one of the suggestions
 * (picked from the list); a name that is not dotted lower case is refused beside the input.
 */
export function EventTypeFilter({ id, value, suggestions, onChange }: EventTypeFilterProps) {
  const listId = `${id}-types`;
  const errorId = `${id}-error`;
  const [draft, setDraft] = useState(value);
  const [error, setError] = useState(false);
  useEffect(() => {
    setDraft(value);
    setError(false);
  }, [value]);

  function apply(text: string) {
    const name = text.trim();
    if (name && !isEventTypeName(name)) {
      setError(true);
      return;
    }
    setError(false);
    if (name !== value) onChange(name);
  }

  return (
    <>
      <input
        id={id}
        type="text"
        list={listId}
        value={draft}
        placeholder="Any event type"
        autoComplete="off"
        spellCheck={false}
        aria-invalid={error}
        aria-describedby={error ? errorId : undefined}
        onChange={(event) => {
          const text = event.target.value;
          setDraft(text);
          setError(false);
          if (text === "" || suggestions.includes(text)) apply(text);
        }}
        onBlur={() => apply(draft)}
        onKeyDown={(event) => {
          if (event.key === "Enter") {
            event.preventDefault();
            apply(draft);
          } else if (event.key === "Escape" && draft !== value) {
            setDraft(value);
            setError(false);
          }
        }}
      />
      <datalist id={listId}>
        {suggestions.map((type) => (
          <option key={type} value={type} />
        ))}
      </datalist>
      {error && (
        <div id={errorId} className="field-error">
          {TYPE_HINT}
        </div>
      )}
    </>
  );
}
