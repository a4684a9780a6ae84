from __future__ import annotations

from django.urls import path

import config.converters  # noqa: F401  (registers <id:...>)
from generation.api import (
    EndpointDetailView,
    EndpointListView,
    GenerationActionView,
    GenerationDetailView,
    GenerationListView,
)

urlpatterns = [
    path("projects/<slug:slug>/endpoints", EndpointListView.as_view(), name="endpoints-api"),
    path(
        "projects/<slug:slug>/endpoints/<id:pk>",
        EndpointDetailView.as_view(),
        name="endpoint-detail-api",
    ),
    path("projects/<slug:slug>/generations", GenerationListView.as_view(), name="generations-api"),
    path(
        "projects/<slug:slug>/generations/<id:pk>",
        GenerationDetailView.as_view(),
        name="generation-detail-api",
    ),
    *(
        path(
            f"projects/<slug:slug>/generations/<id:pk>/{action}",
            GenerationActionView.as_view(action_name=action),
            name=f"generation-{action}-api",
        )
        for action in ("cancel", "resume")
    ),
]
