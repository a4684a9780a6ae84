from __future__ import annotations

from django.urls import path

import config.converters  # noqa: F401  (registers <id:...>)
from generation import views

urlpatterns = [
    path("projects/<slug:slug>/endpoints", views.endpoints_page, name="endpoints"),
    path("projects/<slug:slug>/endpoints/add", views.endpoint_add, name="endpoint-add"),
    path(
        "projects/<slug:slug>/endpoints/<id:pk>/edit",
        views.endpoint_edit,
        name="endpoint-edit",
    ),
    path(
        "projects/<slug:slug>/endpoints/<id:pk>/delete",
        views.endpoint_delete,
        name="endpoint-delete",
    ),
    path("projects/<slug:slug>/generations", views.generations_page, name="generations"),
    path("projects/<slug:slug>/generations/start", views.generation_start, name="generation-start"),
    path(
        "projects/<slug:slug>/generations/<id:pk>",
        views.generation_detail,
        name="generation-detail",
    ),
    *(
        path(
            f"projects/<slug:slug>/generations/<id:pk>/{action}",
            views.generation_action,
            {"action": action},
            name=f"generation-{action}",
        )
        for action in ("cancel", "resume")
    ),
]
