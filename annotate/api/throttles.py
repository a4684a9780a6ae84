"""Request rates per caller: one member's heavy calls must not slow everyone else's.

Every endpoint counts calls per user (per address when anonymous) in Django's default cache
(settings REST_FRAMEWORK). A view that costs seconds of a web process or a worker names a
scope (`throttle_scope = "expensive"`), counted per user in the "throttle" cache, which all web
processes share when Redis is configured. A throttled call is a 429 with Retry-After.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from django.core.cache import BaseCache, caches
from django.utils.connection import ConnectionProxy
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework.throttling import ScopedRateThrottle

logger = logging.getLogger(__name__)


class ScopedThrottle(ScopedRateThrottle):
    """The rate of the view's `throttle_scope`, per user, in the shared "throttle" cache.

    While Redis is unreachable the limit is not enforced (logged): a cache outage must not
    turn the endpoints into errors.
    """

    cache = cast(BaseCache, ConnectionProxy(caches, "throttle"))

    def allow_request(self, request: Any, view: Any) -> bool:
        try:
            return super().allow_request(request, view)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            logger.warning("throttle cache unreachable, %s not limited: %s", self.scope, exc)
            return True
