"""Python client for prefloop: projects, imports, judging, exports, reward models, webhooks.

from prefloop_client import Client
client = Client("http://127.0.0.1:8000", token="...")
project = client.project("demo")
"""

from __future__ import annotations

from prefloop_client.client import Client
from prefloop_client.data import Export
from prefloop_client.errors import (
    AuthenticationFailed,
    Conflict,
    JobFailed,
    LineError,
    NotFound,
    PermissionDenied,
    PrefloopError,
    RateLimited,
    ServerError,
    ValidationError,
)
from prefloop_client.http import RetryPolicy
from prefloop_client.jobs import ImportJob, TrainingRun
from prefloop_client.judging import Assignment, Judgement
from prefloop_client.project import ExternalModel, ModelsOverview, Project
from prefloop_client.records import (
    AnnotatorQuality,
    Freshness,
    Invitation,
    Leaderboard,
    Member,
    ModelRating,
    Quality,
    Rate,
    Reward,
    RewardModel,
    Scores,
    Stats,
)
from prefloop_client.review import PairDetail, PairJudgement, PairRow, ResponseText, ReviewEvent
from prefloop_client.webhooks import InvalidSignature, sign, verify_signature
from prefloop_client.workspace import Delivery, DeliveryAttempt, Webhook

__all__ = [
    "AnnotatorQuality",
    "Assignment",
    "AuthenticationFailed",
    "Client",
    "Conflict",
    "Delivery",
    "DeliveryAttempt",
    "Export",
    "ExternalModel",
    "Freshness",
    "ImportJob",
    "InvalidSignature",
    "Invitation",
    "JobFailed",
    "Judgement",
    "Leaderboard",
    "LineError",
    "Member",
    "ModelRating",
    "ModelsOverview",
    "NotFound",
    "PairDetail",
    "PairJudgement",
    "PairRow",
    "PermissionDenied",
    "PrefloopError",
    "Project",
    "Quality",
    "Rate",
    "RateLimited",
    "ResponseText",
    "RetryPolicy",
    "ReviewEvent",
    "Reward",
    "RewardModel",
    "Scores",
    "ServerError",
    "Stats",
    "TrainingRun",
    "ValidationError",
    "Webhook",
    "sign",
    "verify_signature",
]
