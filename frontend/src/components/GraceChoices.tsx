/** How long a rotated secret's predecessor keeps working: the choices every rotation offers. */
export const GRACE_CHOICES = [
  { seconds: 0, label: "Immediately (the old secret stops now)" },
  { seconds: 3600, label: "1 hour" },
  { seconds: 86400, label: "24 hours (recommended)" },
  { seconds: 604800, label: "7 days" },
];

export const DEFAULT_GRACE_SECONDS = 86400;

export function GraceChoices({ legend, value, onChange }: { legend: string; value: number; onChange: (seconds: number) => void }) {
  return (
    <fieldset className="radios">
      <legend>{legend}</legend>
      {GRACE_CHOICES.map((choice) => (
        <label key={choice.seconds} className="check">
          <input
            type="radio"
            name="grace"
            value={choice.seconds}
            checked={value === choice.seconds}
            onChange={() => onChange(choice.seconds)}
            data-autofocus={value === choice.seconds ? true : undefined}
          />
          <span>{choice.label}</span>
        </label>
      ))}
    </fieldset>
  );
}
