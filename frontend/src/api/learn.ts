// The learner's side: one quest with its tasks and the learner's own submissions and grades, and
// handing in work through the learning routes (POST /api/tasks/<id>/submissions).
import { api } from "../api";

export interface Submission {
  id: string;
  task_id: string;
  content: string;
  status: "submitted" | "graded" | string;
  score: number | null;
  max_score: number | null;
  feedback: string | null;
  graded_at: string | null;
  created_at: string;
}

export interface LearnerTask {
  id: string;
  title: string;
  description: string;
  pillar: string;
  xp: number;
  completed: boolean;
  /** The learner's own, newest first. */
  submissions: Submission[];
}

export interface QuestProgress {
  id: string;
  organization_id: string;
  title: string;
  description: string;
  task_count: number;
  tasks: LearnerTask[];
}

export function questProgressPath(questId: string): string {
  return `/api/quests/${encodeURIComponent(questId)}/progress`;
}

export function submitWork(taskId: string, content: string): Promise<{ id: string; status: string }> {
  return api(`/api/tasks/${encodeURIComponent(taskId)}/submissions`, { method: "POST", body: { content } });
}
