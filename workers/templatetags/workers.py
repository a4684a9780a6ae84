"""`{% worker_status %}`: a warning on pages whose actions need a running worker."""

from __future__ import annotations

from typing import Any

from django import template

from workers.heartbeat import worker_silence

register = template.Library()


@register.inclusion_tag("workers/status.html")
def worker_status() -> dict[str, Any]:
    return {"silence": worker_silence()}
