// Rotating a key: keep its id or take a new one, and how long the old secret keeps working.
import { useState } from "react";
import { keyId, rotateKey, type ApiKey } from "../../api/apiKeys";
import { Dialog, DialogButtons } from "../../components/Dialog";
import { ErrorBanner } from "../../components/feedback";
import { useAction } from "../../hooks";

export function RotateKeyDialog({
  apiKey,
  onClose,
  onRotated,
}: {
  apiKey: ApiKey;
  onClose: () => void;
  onRotated: (key: ApiKey) => void;
}) {
  const [preserve, setPreserve] = useState(true);
  const [grace, setGrace] = useState(86400);
  const rotate = useAction(() => rotateKey(keyId(apiKey), preserve, grace));
  return (
    <Dialog
      title={`Rotate ${apiKey.name || "API key"}`}
      onClose={onClose}
      footer={
        <DialogButtons
          label="Rotate"
          busyLabel="Rotating…"
          busy={rotate.busy}
          onCancel={onClose}
          onConfirm={async () => {
            const key = await rotate.run();
            if (key) onRotated(key);
          }}
        />
      }
    >
      <fieldset className="radios">
        <legend>Key id</legend>
        <label className="check">
          <input type="radio" name="preserve" checked={preserve} onChange={() => setPreserve(true)} data-autofocus />
          <span>
            Keep the key id
            <span className="check-hint">Only the secret changes; usage history and allowlist stay with the same id.</span>
          </span>
        </label>
        <label className="check">
          <input type="radio" name="preserve" checked={!preserve} onChange={() => setPreserve(false)} />
          <span>
            New key id
            <span className="check-hint">A new key replaces this one; the old id is revoked after the grace period.</span>
          </span>
        </label>
      </fieldset>
      <div className="field">
        <label htmlFor="grace-select">The old secret keeps working for</label>
        <select id="grace-select" value={grace} onChange={(e) => setGrace(Number(e.target.value))}>
          <option value={0}>No grace period</option>
          <option value={3600}>1 hour</option>
          <option value={86400}>24 hours</option>
          <option value={604800}>7 days</option>
        </select>
      </div>
      <ErrorBanner error={rotate.error} />
    </Dialog>
  );
}
