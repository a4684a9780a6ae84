"""The embedded Celery broker: kombu's SQLAlchemy transport, hardened against bad messages.

A SQLite file gives transactional queues that need no server (a message is stored whole or not
at all, unlike the file-system transport's half-written files). A row that does not decode as a
kombu message is logged and skipped: kombu would otherwise raise out of the worker's consumer
loop and the worker would exit. Taken messages are deleted rather than kept.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import sqlalchemy as kombu_sqla
from kombu.transport.virtual import Empty
from kombu.utils.encoding import bytes_to_str
from sqlalchemy import text

logger = logging.getLogger(__name__)


def is_kombu_message(payload: Any) -> bool:
    """True for a dict carrying what kombu's virtual Message reads unconditionally."""
    properties = payload.get("properties") if isinstance(payload, dict) else None
    return isinstance(properties, dict) and {"delivery_info", "delivery_tag"} <= properties.keys()


class Channel(kombu_sqla.Channel):
    # kombu's own sqlalchemy Channel._get takes no timeout either (its stub ignores this too).
    def _get(self, queue: str) -> Any:  # type: ignore[override]
        """Take the oldest message off the queue, deleting its row.

        kombu marks a taken row invisible and keeps it forever (it never redelivers it, and a
        warm shutdown puts unfinished messages back as new rows), so the file only grew.
        """
        obj = self._get_or_create(queue)  # type: ignore[attr-defined]  # kombu-stubs omit it
        if self.session.get_bind().dialect.name == "sqlite":
            self.session.execute(text("BEGIN IMMEDIATE TRANSACTION"))
        try:
            message = (
                self.session.query(self.message_cls)
                .with_for_update()
                .filter(self.message_cls.queue_id == obj.id)
                .filter(self.message_cls.visible != False)  # noqa: E712 (SQL, not Python)
                .order_by(self.message_cls.sent_at, self.message_cls.id)
                .first()
            )
            if message is None:
                raise Empty()
            raw = message.payload
            self.session.delete(message)
        finally:
            self.session.commit()
        return _decoded(queue, raw)


def _decoded(queue: str, raw: Any) -> Any:
    """The message, or Empty for a row that is not one: logged and dropped, never raised out
    of the worker's consumer loop."""
    try:
        payload = json.loads(bytes_to_str(raw))
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
