// The filters above a list: kept in the address, so a filtered view can be shared and reloaded.
import { useId } from "react";
import { useSearchParams } from "react-router-dom";

/**
 * The address's query and a setter for one of its parameters: an empty or null value drops it.
 * A change replaces the history entry, so Back leaves the page rather than undoing a filter.
 */
export function useQueryParams(): [URLSearchParams, (name: string, value: string | null) => void] {
  const [params, setParams] = useSearchParams();
  function set(name: string, value: string | null) {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    setParams(next, { replace: true });
  }
  return [params, set];
}

/** A "Status" select: any status, or one of `statuses`. */
export function StatusFilter({ statuses, value, onChange }: { statuses: readonly string[]; value: string; onChange: (status: string) => void }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>Status</label>
      <select id={id} value={value} onChange={(event) => onChange(event.target.value)}>
        <option value="">Any status</option>
        {statuses.map((status) => (
          <option key={status} value={status}>
            {status}
          </option>
        ))}
      </select>
    </div>
  );
}
