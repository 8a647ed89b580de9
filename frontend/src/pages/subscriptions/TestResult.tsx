// What a test send came back with: the receiver's answer, or a link to follow the queued delivery.
import { Link } from "react-router-dom";
import type { TestSendResult } from "../../api/subscriptions";
import { formatMs, StatusBadge } from "../../components/display";

export function TestResult({ result }: { result: TestSendResult }) {
  const attempt = result.attempt;
  if (!attempt) return <TestQueued result={result} />;
  const ok = result.status === "delivered";
  return (
    <div className={`test-result ${ok ? "test-ok" : "test-failed"}`} role="status" data-testid="test-result">
      <p>
        <StatusBadge status={result.status} />{" "}
        {ok ? "The receiver accepted the test event." : "The receiver did not accept the test event."}
      </p>
      <dl className="facts">
        <dt>HTTP status</dt>
        <dd>{attempt.status_code ?? "no answer"}</dd>
        <dt>Duration</dt>
        <dd>{formatMs(attempt.duration_ms)}</dd>
        {attempt.error && (
          <>
            <dt>Error</dt>
            <dd>{attempt.error}</dd>
          </>
        )}
        <dt>Delivery</dt>
        <dd>
          <Link to={`/deliveries/${result.delivery_id}`}>{result.delivery_id}</Link>
        </dd>
      </dl>
      {attempt.response_body && (
        <>
          <p className="small muted">Response body</p>
          <pre className="code-block">{attempt.response_body}</pre>
        </>
      )}
    </div>
  );
}

/** 202: the receiver has not answered yet; the delivery log follows the attempt. */
function TestQueued({ result }: { result: TestSendResult }) {
  return (
    <div className="test-result test-queued" role="status" data-testid="test-result">
      <p>
        <StatusBadge status={result.status} /> Queued: the receiver has not answered yet.
      </p>
      <p className="small muted">The attempt will appear in the delivery log as soon as the receiver answers.</p>
      <Link to={`/deliveries/${result.delivery_id}`}>Follow the delivery</Link>
    </div>
  );
}
