"""The embedded Celery broker: kombu's SQLAlchemy transport, hardened against bad messages.

A SQLite file gives transactional queues that need no server (a message is stored whole or not
at all, unlike the file-system transport's half-written files). A row that does not decode as a
kombu message is logged and skipped: kombu would otherwise raise out of the worker's consumer
loop and the worker would exit.
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import sqlalchemy as kombu_sqla
from kombu.transport.virtual import Empty

logger = logging.getLogger(__name__)


def is_kombu_message(payload: Any) -> bool:
    """True for a dict carrying what kombu's virtual Message reads unconditionally."""
    properties = payload.get("properties") if isinstance(payload, dict) else None
    return isinstance(properties, dict) and {"delivery_info", "delivery_tag"} <= properties.keys()


class Channel(kombu_sqla.Channel):
    def _get(self, queue: str) -> Any:
        # The parent marks the row delivered and commits before decoding it, so skipping a bad
        # row here never sees it again.
        try:
            payload = super()._get(queue)
        except (ValueError, UnicodeDecodeError) as exc:
            logger.error("skipped a malformed message in queue %r: %s", queue, exc)
            raise Empty() from None
        if not is_kombu_message(payload):
            logger.error("skipped a message in queue %r that is not a task message", queue)
            raise Empty()
        return payload


class Transport(kombu_sqla.Transport):
    Channel = Channel
    # Seconds between looks at an empty queue (kombu's default is 1).
    polling_interval = 0.5


# `sqla+...` broker URLs get this transport in every process that imports the Celery app.
TRANSPORT_ALIASES["sqla"] = "config.broker:Transport"
TRANSPORT_ALIASES["sqlalchemy"] = "config.broker:Transport"
