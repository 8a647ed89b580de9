"""Quests, tasks, submissions, completions and notifications."""

from __future__ import annotations

from flask import Blueprint, g, jsonify
from marshmallow import Schema, fields, validate

from backend.auth import login_required, user_transaction
from backend.routes.common import NoBody, PageQuery, json_body, not_blank, page, query_args
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
    unread = fields.Boolean(load_default=False)


@bp.post("/api/quests")
@login_required
def create_quest():
    data = json_body(QuestSchema())
    with user_transaction() as conn:
        quest = learning.create_quest(
            conn, g.identity.user_id, data["organization_id"], data["title"], data["description"]
        )
    return jsonify(quest), 201


@bp.get("/api/quests")
@login_required
def list_quests():
    args = query_args(QuestQuery())
    with user_transaction() as conn:
        rows, next_cursor = learning.list_quests(conn, args["limit"], args["cursor"], args["organization_id"])
    return jsonify(page(rows, next_cursor))


@bp.get("/api/quests/<uuid:quest_id>")
@login_required
def get_quest(quest_id):
    with user_transaction() as conn:
        quest = learning.get_quest(conn, quest_id)
    return jsonify(quest)


@bp.post("/api/quests/<uuid:quest_id>/tasks")
@login_required
def create_task(quest_id):
    data = json_body(TaskSchema())
    with user_transaction() as conn:
        task = learning.create_task(conn, quest_id, data["title"], data["pillar"], data["xp"], data["description"])
    return jsonify(task), 201


@bp.get("/api/quests/<uuid:quest_id>/tasks")
@login_required
def list_tasks(quest_id):
    args = query_args(PageQuery())
    with user_transaction() as conn:
        rows, next_cursor = learning.list_tasks(conn, quest_id, args["limit"], args["cursor"])
    return jsonify(page(rows, next_cursor))


@bp.post("/api/tasks/<uuid:task_id>/submissions")
@login_required
def submit(task_id):
    data = json_body(SubmissionSchema())
    with user_transaction() as conn:
        submission = learning.submit(conn, g.identity.user_id, task_id, data["content"])
    return jsonify(submission), 201


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
    args = query_args(NotificationQuery())
    with user_transaction() as conn:
        rows, next_cursor = learning.list_notifications(
            conn, g.identity.user_id, args["limit"], args["cursor"], unread_only=args["unread"]
        )
    return jsonify(page(rows, next_cursor))


@bp.post("/api/notifications/<uuid:notification_id>/read")
@login_required
def mark_notification_read(notification_id):
    json_body(NoBody())
    with user_transaction() as conn:
        notification = learning.mark_notification_read(conn, g.identity.user_id, notification_id)
    return jsonify(notification)
