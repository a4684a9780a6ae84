"""The JSON request parser: a body that no view could store is a 400, never a 500."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from annotate.safetext import find_unstorable


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser that also refuses absurd nesting, NUL and lone surrogates."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
        bad = find_unstorable(data, max_depth=settings.MAX_JSON_DEPTH)
        if bad is not None:
            where, problem = bad
            raise ParseError(f"{where or 'the body'} {problem}")
        return data
