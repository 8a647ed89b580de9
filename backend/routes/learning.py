"""Quests, tasks, submissions, completions and notifications."""

from __future__ import annotations

from flask import Blueprint, g, jsonify
from marshmallow import Schema, fields, validate

from backend.auth import login_required, user_transaction
from backend.routes.common import NoBody, PageQuery, answered, json_body, listed, not_blank
from backend.services import learning

bp = Blueprint("learning", __name__)


def _name(max_length: int) -> fields.String:
    return fields.String(required=True, validate=[validate.Length(min=1, max=max_length), not_blank])


def _description() -> fields.String:
    return fields.String(load_default="", validate=validate.Length(max=10000))


class QuestSchema(Schema):
    organization_id = fields.UUID(required=True)
    title = _name(200)
    description = _description()


class TaskSchema(Schema):
    title = _name(200)
    pillar = _name(64)
    xp = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=100000))
    description = _description()


class SubmissionSchema(Schema):
    content = fields.String(required=True, validate=validate.Length(min=1, max=100000))


class QuestQuery(PageQuery):
    organization_id = fields.UUID(load_default=None)


class NotificationQuery(PageQuery):
    unread_only = fields.Boolean(data_key="unread", load_default=False)


@bp.post("/api/quests")
@login_required
def create_quest():
    data = json_body(QuestSchema())
    return answered(
        learning.create_quest,
        g.identity.user_id,
        data["organization_id"],
        data["title"],
        data["description"],
        status=201,
    )


@bp.get("/api/quests")
@login_required
def list_quests():
    return listed(learning.list_quests, QuestQuery())


@bp.get("/api/quests/<uuid:quest_id>")
@login_required
def get_quest(quest_id):
    return answered(learning.get_quest, quest_id)


@bp.get("/api/quests/<uuid:quest_id>/progress")
@login_required
def quest_progress(quest_id):
    """The learner page's view: the quest, its tasks and the caller's own submissions and grades."""
    return answered(learning.learner_progress, g.identity.user_id, quest_id)


@bp.post("/api/quests/<uuid:quest_id>/tasks")
@login_required
def create_task(quest_id):
    data = json_body(TaskSchema())
    return answered(
        learning.create_task, quest_id, data["title"], data["pillar"], data["xp"], data["description"], status=201
    )


@bp.get("/api/quests/<uuid:quest_id>/tasks")
@login_required
def list_tasks(quest_id):
    return listed(learning.list_tasks, PageQuery(), quest_id=quest_id)


@bp.post("/api/tasks/<uuid:task_id>/submissions")
@login_required
def submit(task_id):
    data = json_body(SubmissionSchema())
    return answered(learning.submit, g.identity.user_id, task_id, data["content"], status=201)


@bp.post("/api/tasks/<uuid:task_id>/complete")
@login_required
def complete_task(task_id):
    json_body(NoBody())
    with user_transaction() as conn:
        completion = learning.complete_task(conn, g.identity.user_id, task_id)
    return jsonify(completion.to_dict())


@bp.get("/api/notifications")
@login_required
def list_notifications():
    return listed(learning.list_notifications, NotificationQuery(), user_id=g.identity.user_id)


@bp.post("/api/notifications/<uuid:notification_id>/read")
@login_required
def mark_notification_read(notification_id):
    json_body(NoBody())
    return answered(learning.mark_notification_read, g.identity.user_id, notification_id)
