"""Quests, tasks, submissions, completions and notifications (filled in by the learning-domain work)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("learning", __name__)
