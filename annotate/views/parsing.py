"""Pages read their input through the API's serializers: one parse path, the same refusals."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from rest_framework.serializers import Serializer
from rest_framework.settings import api_settings


class InvalidInput(Exception):
    """A serializer refused a page's input; `str()` gives its messages, field by field."""

    def __init__(self, errors: Mapping[str, Any]) -> None:
        self.errors = errors
        super().__init__(describe(errors))


def parse(serializer_class: type[Serializer], data: Any) -> dict[str, Any]:
    """The serializer's validated data for `data` (a QueryDict or dict); raise InvalidInput."""
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise InvalidInput(serializer.errors)
    return dict(serializer.validated_data)


def describe(errors: Mapping[str, Any]) -> str:
    """`field: message` per refused field (the API's JSON body, as one line for a page)."""
    parts = []
    for field, detail in errors.items():
        text = " ".join(error_messages(detail))
        parts.append(text if field == api_settings.NON_FIELD_ERRORS_KEY else f"{field}: {text}")
    return "; ".join(parts)


def error_messages(detail: Any) -> list[str]:
    """The messages of one field's errors, however nested (list and dict fields)."""
    if isinstance(detail, Mapping):
        return [m for value in detail.values() for m in error_messages(value)]
    if isinstance(detail, list | tuple):
        return [m for value in detail for m in error_messages(value)]
    return [str(detail)]


def bad_input_is_400(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Answer InvalidInput with a 400 that says why, as plain text (it quotes the input)."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return view(request, *args, **kwargs)
        except InvalidInput as exc:
            return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")

    return wrapped
