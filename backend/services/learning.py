"""Quests, tasks, submissions, completions (xp and badges) and notifications, run as the caller.

Row-level security decides what the caller sees: a quest or task of an organization they do not
belong to does not exist for them (404), and only org admins write quests and tasks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import psycopg
from psycopg.types.json import Jsonb

from backend.db import queries_beside
from backend.errors import NotFound
from backend.services.shared.ownership import require_admin, require_member
from backend.services.shared.pagination import page_params, paginate
from backend.services.webhooks.events import emit_event

SQL = queries_beside(__file__)

BADGE_EARNED = "badge_earned"


def get_quest(conn: psycopg.Connection, quest_id) -> dict:
    quest = conn.execute(SQL["get_quest"], {"id": quest_id}).fetchone()
    if quest is None:
        raise NotFound("quest not found")
    return quest


def create_quest(conn: psycopg.Connection, user_id, organization_id, title: str, description: str = "") -> dict:
    """A new quest in an organization the caller administers."""
    require_admin(conn, organization_id)
    quest_id = uuid.uuid4()
    conn.execute(
        SQL["insert_quest"],
        {
            "id": quest_id,
            "organization_id": organization_id,
            "title": title.strip(),
            "description": description,
            "created_by": user_id,
        },
    )
    return get_quest(conn, quest_id)


def list_quests(
    conn: psycopg.Connection, limit: int, cursor: str | None, organization_id=None
) -> tuple[list[dict], str | None]:
    """Quests of the caller's organizations (or of one of them), newest first."""
    if organization_id is not None:
        require_member(conn, organization_id)
    params = page_params(cursor, limit) | {"organization_id": organization_id}
    return paginate(conn.execute(SQL["list_quests"], params).fetchall(), limit)


def get_task(conn: psycopg.Connection, task_id) -> dict:
    task = conn.execute(SQL["get_task"], {"id": task_id}).fetchone()
    if task is None:
        raise NotFound("task not found")
    return task


def create_task(conn: psycopg.Connection, quest_id, title: str, pillar: str, xp: int, description: str = "") -> dict:
    """A new task of a quest; only the quest organization's admins may add one."""
    quest = get_quest(conn, quest_id)
    require_admin(conn, quest["organization_id"])
    task_id = uuid.uuid4()
    conn.execute(
        SQL["insert_task"],
        {
            "id": task_id,
            "quest_id": quest_id,
            "organization_id": quest["organization_id"],
            "title": title.strip(),
            "description": description,
            "pillar": pillar.strip(),
            "xp": xp,
        },
    )
    return get_task(conn, task_id)


def list_tasks(conn: psycopg.Connection, quest_id, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
    """A quest's tasks, oldest first (the cursor moves forward in time)."""
    get_quest(conn, quest_id)
    params = page_params(cursor, limit) | {"quest_id": quest_id}
    return paginate(conn.execute(SQL["list_tasks"], params).fetchall(), limit)


def learner_progress(conn: psycopg.Connection, user_id, quest_id) -> dict:
    """What the learner page shows: the quest, every task of it, and on each task the caller's own
    submissions (newest first) with their grades."""
    quest = get_quest(conn, quest_id)
    keys = {"quest_id": quest_id, "user_id": user_id}
    tasks = conn.execute(SQL["learner_tasks"], keys).fetchall()
    submissions: dict = {task["id"]: [] for task in tasks}
    for submission in conn.execute(SQL["learner_submissions"], keys).fetchall():
        submissions[submission["task_id"]].append(submission)
    return quest | {"tasks": [task | {"submissions": submissions[task["id"]]} for task in tasks]}


def submit(conn: psycopg.Connection, user_id, task_id, content: str) -> dict:
    """The caller hands in work for a task of one of their organizations."""
    task = get_task(conn, task_id)
    submission = conn.execute(
        SQL["insert_submission"],
        {
            "id": uuid.uuid4(),
            "task_id": task_id,
            "organization_id": task["organization_id"],
            "user_id": user_id,
            "content": content,
        },
    ).fetchone()
    emit_event(
        conn,
        task["organization_id"],
        "task.submitted",
        {
            "submission_id": submission["id"],
            "task_id": task_id,
            "quest_id": task["quest_id"],
            "user_id": user_id,
        },
    )
    return submission


@dataclass(frozen=True)
class Completion:
    """What completing a task changed, enough for the caller to answer and to emit events from.

    `completion` is None when the learner had already completed the task (nothing changed);
    `badge` and `notification` are set only by the completion that finished the quest.
    """

    task: dict
    completion: dict | None
    quest_completed: bool
    badge: dict | None
    notification: dict | None
    tasks_completed: int
    tasks_total: int
    total_xp: int

    @property
    def xp_awarded(self) -> int:
        return self.completion["xp_awarded"] if self.completion else 0

    @property
    def already_completed(self) -> bool:
        return self.completion is None

    def to_dict(self) -> dict:
        return {
            "task_id": self.task["id"],
            "quest_id": self.task["quest_id"],
            "organization_id": self.task["organization_id"],
            "xp_awarded": self.xp_awarded,
            "already_completed": self.already_completed,
            "completed_at": self.completion["completed_at"] if self.completion else None,
            "quest_completed": self.quest_completed,
            "badge": self.badge,
            "tasks_completed": self.tasks_completed,
            "tasks_total": self.tasks_total,
            "total_xp": self.total_xp,
        }


def complete_task(conn: psycopg.Connection, user_id, task_id) -> Completion:
    """Mark a task done for the caller: xp once per learner and task, the badge when the quest is done.

    Safe under concurrency: the completion insert ignores a repeat, and completions of one
    learner in one quest are serialized so the one that finishes the quest always sees the rest.
    """
    task = get_task(conn, task_id)
    keys = {"quest_id": task["quest_id"], "organization_id": task["organization_id"], "user_id": user_id}
    conn.execute(SQL["lock_learner_quest"], keys)
    completion = conn.execute(SQL["insert_completion"], keys | {"task_id": task_id}).fetchone()
    progress = conn.execute(SQL["quest_progress"], keys).fetchone()
    quest_completed = completion is not None and progress["completed"]
    badge = notification = None
    if quest_completed:
        badge = conn.execute(SQL["insert_badge"], keys).fetchone()
    if badge is not None:
        title = get_quest(conn, task["quest_id"])["title"]
        notification = notify(
            conn,
            user_id,
            task["organization_id"],
            BADGE_EARNED,
            f"Badge earned: {title}",
            f'You completed every task of "{title}".',
            {"badge_id": str(badge["id"]), "quest_id": str(task["quest_id"])},
        )
    total_xp = conn.execute(SQL["total_xp"], keys).fetchone()["total_xp"]
    _emit_completion_events(conn, task, user_id, completion, badge, total_xp)
    return Completion(
        task=task,
        completion=completion,
        quest_completed=quest_completed,
        badge=badge,
        notification=notification,
        tasks_completed=progress["tasks_completed"],
        tasks_total=progress["tasks_total"],
        total_xp=total_xp,
    )


def _emit_completion_events(conn, task, user_id, completion, badge, total_xp) -> None:
    """task.completed for a new completion; quest.completed and badge.earned when it finished the
    quest for the first time (the badge's: a task added later and completed finishes it again, but
    announces nothing more)."""
    if completion is None:
        return
    organization_id, quest_id = task["organization_id"], task["quest_id"]
    emit_event(
        conn,
        organization_id,
        "task.completed",
        {"task_id": task["id"], "quest_id": quest_id, "user_id": user_id, "xp_awarded": completion["xp_awarded"]},
    )
    if badge is not None:
        emit_event(
            conn, organization_id, "quest.completed", {"quest_id": quest_id, "user_id": user_id, "total_xp": total_xp}
        )
        emit_event(
            conn, organization_id, "badge.earned", {"badge_id": badge["id"], "quest_id": quest_id, "user_id": user_id}
        )


def notify(
    conn: psycopg.Connection, user_id, organization_id, type_: str, title: str, body: str = "", data=None
) -> dict:
    """A notification for user_id; as a user, RLS allows only notifying oneself."""
    return conn.execute(
        SQL["insert_notification"],
        {
            "user_id": user_id,
            "organization_id": organization_id,
            "type": type_,
            "title": title,
            "body": body,
            "data": Jsonb(data or {}),
        },
    ).fetchone()


def list_notifications(
    conn: psycopg.Connection, user_id, limit: int, cursor: str | None, unread_only: bool = False
) -> tuple[list[dict], str | None]:
    """The user's own notifications, newest first."""
    params = page_params(cursor, limit) | {"user_id": user_id, "unread_only": unread_only}
    return paginate(conn.execute(SQL["list_notifications"], params).fetchall(), limit)


def mark_notification_read(conn: psycopg.Connection, user_id, notification_id) -> dict:
    """Mark one of the user's notifications read (the first read time is kept)."""
    row = conn.execute(SQL["mark_notification_read"], {"id": notification_id, "user_id": user_id}).fetchone()
    if row is None:
        raise NotFound("notification not found")
    return row
