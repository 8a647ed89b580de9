import { useId, useState, type FormEvent } from "react";
import { useParams } from "react-router-dom";
import { questProgressPath, submitWork, type LearnerTask, type QuestProgress, type Submission } from "../../api/learn";
import { Breakable, StatusBadge, Time, formatNumber } from "../../components/display";
import { ErrorBanner, LoadState, Notice, PageTitle } from "../../components/feedback";
import { Field, SubmitButton } from "../../components/forms";
import { Table } from "../../components/Table";
import { useAction, useApi } from "../../hooks";

/** Where a learner stands on a task: done, graded, handed in, or not yet started. */
export function taskStatus(task: LearnerTask): string {
  if (task.completed) return "completed";
  return task.submissions[0]?.status ?? "not started";
}

function Grade({ submission }: { submission: Submission }) {
  if (submission.score === null || submission.max_score === null) return <span className="muted">Not graded yet</span>;
  return (
    <span>
      {formatNumber(submission.score, 2)} / {formatNumber(submission.max_score, 2)}
    </span>
  );
}

function Submissions({ task }: { task: LearnerTask }) {
  if (!task.submissions.length) return <p className="muted">You have not handed in work for this task yet.</p>;
  return (
    <Table testId={`submissions-${task.id}`} columns={["Submitted", "Status", "Grade", "Feedback", "Your work"]}>
      {task.submissions.map((submission) => (
        <tr key={submission.id}>
          <td data-label="Submitted">
            <Time value={submission.created_at} />
          </td>
          <td data-label="Status">
            <StatusBadge status={submission.status} />
          </td>
          <td data-label="Grade">
            <Grade submission={submission} />
            {submission.graded_at && (
              <div className="muted">
                graded <Time value={submission.graded_at} />
              </div>
            )}
          </td>
          <td data-label="Feedback">{submission.feedback || <span className="muted">—</span>}</td>
          <td data-label="Your work">
            <Breakable text={submission.content} />
          </td>
        </tr>
      ))}
    </Table>
  );
}

function SubmitForm({ task, onSubmitted }: { task: LearnerTask; onSubmitted: () => Promise<void> }) {
  const headingId = useId();
  const [content, setContent] = useState("");
  const [sent, setSent] = useState(false);
  const action = useAction(submitWork);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setSent(false);
    if (await action.run(task.id, content)) {
      setContent("");
      setSent(true);
      await onSubmitted();
    }
  }

  return (
    <form className="form" onSubmit={submit} aria-labelledby={headingId} noValidate>
      <h3 id={headingId}>Hand in work</h3>
      <ErrorBanner error={action.error} fields={["content"]} />
      <Notice>{sent && "Your work was handed in."}</Notice>
      <Field label={`Your work for ${task.title}`} name="content" error={action.error}>
        {(props) => (
          <textarea {...props} name="content" rows={5} value={content} onChange={(event) => setContent(event.target.value)} />
        )}
      </Field>
      <div className="form-actions">
        <SubmitButton busy={action.busy} busyLabel="Submitting…">
          Submit work
        </SubmitButton>
      </div>
    </form>
  );
}

function TaskPanel({ task, onSubmitted }: { task: LearnerTask; onSubmitted: () => Promise<void> }) {
  const headingId = useId();
  return (
    <section className="panel" aria-labelledby={headingId} data-testid={`task-${task.id}`}>
      <div className="panel-header">
        <h2 id={headingId}>{task.title}</h2>
        <StatusBadge status={taskStatus(task)} />
      </div>
      <p className="muted">
        {task.pillar} · {formatNumber(task.xp)} xp
      </p>
      {task.description && <p>{task.description}</p>}
      <h3>Your submissions</h3>
      <Submissions task={task} />
      <SubmitForm task={task} onSubmitted={onSubmitted} />
    </section>
  );
}

/** /learn/quests/:id — a learner's quest: its tasks, their own submissions and grades, and handing in work. */
export function QuestPage() {
  const { id = "" } = useParams();
  const quest = useApi<QuestProgress>(questProgressPath(id));
  const data = quest.data;
  return (
    <LoadState loading={quest.loading} error={quest.error} hasData={Boolean(data)} what="Quest" onRetry={() => void quest.reload()}>
      {data && (
        <>
          <PageTitle>{data.title}</PageTitle>
          {data.description && <p className="muted">{data.description}</p>}
          <div className="stack">
            {data.tasks.length ? (
              data.tasks.map((task) => <TaskPanel key={task.id} task={task} onSubmitted={quest.reload} />)
            ) : (
              <p className="muted">This quest has no tasks yet.</p>
            )}
          </div>
        </>
      )}
    </LoadState>
  );
}
