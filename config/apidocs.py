"""The OpenAPI schema and its Swagger UI, open to anonymous callers only when API_DOCS_PUBLIC.

The Swagger page loads its start-up script from a URL (no inline script), so it runs under the
site's Content-Security-Policy; it sets styles at run time, so it alone may use inline styles.
(Redoc is not offered: its bundle loads a logo from a CDN and starts a worker from a blob.)
"""

from __future__ import annotations

from collections.abc import Sequence

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.conf import settings
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularSwaggerSplitView,
)
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated


class _DocsPermission:
    def get_permissions(self) -> Sequence[BasePermission]:
        return [AllowAny() if settings.API_DOCS_PUBLIC else IsAuthenticated()]


class SchemaView(_DocsPermission, SpectacularAPIView):
    """The OpenAPI document."""


class SwaggerView(_DocsPermission, SpectacularSwaggerSplitView):
    """Swagger UI, from the drf-spectacular-sidecar package (no CDN)."""


# Swagger UI injects <style> elements as it renders.
inline_styles = csp_update({"style-src": [UNSAFE_INLINE]})
