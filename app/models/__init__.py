"""Every table, imported here so Alembic and create_all see them all."""
from app.models.accounts import ROLES, TOKEN_SCOPES, ApiToken, Membership, User
from app.models.annotations import TARGET_KINDS, Annotation, Comparison, Queue, QueueAssignee, QueueClaim, QueueItem
from app.models.base import Label
from app.models.documents import STOP_REASONS, Document, Version
from app.models.events import Event
from app.models.exports import EXPORT_FORMATS, Export
from app.models.projects import SEGMENT_UNITS, Project
from app.models.runs import (
    EDIT_STATUSES,
    INTENTS,
    RUN_STATUSES,
    SOURCES,
    STAGE_NAMES,
    Critique,
    Edit,
    Feedback,
    Guideline,
    LlmCacheEntry,
    Run,
    Stage,
)

__all__ = [
    "ROLES", "TOKEN_SCOPES", "ApiToken", "Membership", "User",
    "TARGET_KINDS", "Annotation", "Comparison", "Queue", "QueueAssignee", "QueueClaim", "QueueItem",
    "Label", "STOP_REASONS", "Document", "Version", "Event", "EXPORT_FORMATS", "Export",
    "SEGMENT_UNITS", "Project", "EDIT_STATUSES", "INTENTS", "RUN_STATUSES", "SOURCES", "STAGE_NAMES",
    "Critique", "Edit", "Feedback", "Guideline", "LlmCacheEntry", "Run", "Stage",
]
