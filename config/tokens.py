"""`POST /api/auth/token`: an API token for a username and password, throttled like logins."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response


class TokenView(ObtainAuthToken):
    """A token for valid credentials; 429 while django-axes locks the username or address out."""

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            return super().post(request, *args, **kwargs)
        except ValidationError:
            # axes marks the request it was given (DRF's, not Django's) and refuses silently.
            if getattr(request, "axes_locked_out", False):
                return Response(
                    {"detail": "Too many failed logins: try again later."},
                    status=status.HTTP_429_TOO_MANY_REQUESTS,
                )
            raise
