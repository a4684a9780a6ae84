"""The events a subscription may ask for, what each means, and the body every delivery has."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson

EVENTS: dict[str, str] = {
    "judgement.created": "an annotator's judgement was recorded",
    "pair.completed": "a pair received the votes it needs",
    "import.finished": "an import job finished; data has its summary",
    "import.failed": "an import job failed; data has its errors",
    "run.finished": "a training run ended (succeeded or failed)",
    "model.served": "a reward model version is now the one served",
    "annotator.flagged": "an annotator was paused (gold checks or an admin)",
}


def event_body(
    *, event_id: uuid.UUID, event: str, created_at: datetime, project: str, data: dict[str, Any]
) -> str:
    """The JSON text every delivery of one event sends (and signs), byte for byte."""
    return orjson.dumps(
        {
            "id": str(event_id),
            "event": event,
            "created_at": created_at.isoformat(),
            "project": project,
            "data": data,
        }
    ).decode()
