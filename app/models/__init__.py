"""Every table, imported here so Alembic and create_all see them all."""
from app.models.accounts import ROLES, TOKEN_SCOPES, ApiToken, Membership, User, UserSession
from app.models.annotations import (
    TARGET_KINDS,
    Annotation,
    Comparison,
    Queue,
    QueueAssignee,
    QueueClaim,
    QueueItem,
    QueueItemComment,
    QueueItemTag,
)
from app.models.base import Label
from app.models.documents import STOP_REASONS, Document, Version
from app.models.events import Event
from app.models.exports import EXPORT_FORMATS, Export
from app.models.imports import Import, ImportRecord
from app.models.metrics import MetricDecisionDay, MetricEditCount, MetricItemTime  # noqa: F401  (rollups)
from app.models.projects import SEGMENT_UNITS, Project
from app.models.replays import Replay, ReplayItem, Variant
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
    RunChunk,
    Stage,
)
from app.models.search import FTS_INDEXES  # noqa: F401  (PostgreSQL full-text indexes)

__all__ = [
    "EDIT_STATUSES",
    "EXPORT_FORMATS",
    "INTENTS",
    "ROLES",
    "RUN_STATUSES",
    "SEGMENT_UNITS",
    "SOURCES",
    "STAGE_NAMES",
    "STOP_REASONS",
    "TARGET_KINDS",
    "TOKEN_SCOPES",
    "Annotation",
    "ApiToken",
    "Comparison",
    "Critique",
    "Document",
    "Edit",
    "Event",
    "Export",
    "Feedback",
    "Guideline",
    "Import",
    "ImportRecord",
    "Label",
    "LlmCacheEntry",
    "Membership",
    "Project",
    "Queue",
    "QueueAssignee",
    "QueueClaim",
    "QueueItem",
    "QueueItemComment",
    "QueueItemTag",
    "Replay",
    "ReplayItem",
    "Run",
    "RunChunk",
    "Stage",
    "User",
    "UserSession",
    "Variant",
    "Version",
]
