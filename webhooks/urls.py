from __future__ import annotations

from django.urls import path

import config.converters  # noqa: F401  (registers <id:...>)
from webhooks import views

urlpatterns = [
    path("projects/<slug:slug>/webhooks", views.webhooks_page, name="webhooks"),
    path("projects/<slug:slug>/webhooks/add", views.webhook_add, name="webhook-add"),
    path("projects/<slug:slug>/webhooks/<id:pk>", views.webhook_detail, name="webhook-detail"),
    path(
        "projects/<slug:slug>/webhooks/<id:pk>/update",
        views.webhook_update,
        name="webhook-update",
    ),
    *(
        path(
            f"projects/<slug:slug>/webhooks/<id:pk>/{action}",
            views.webhook_state,
            {"action": action},
            name=f"webhook-{action}",
        )
        for action in ("pause", "resume")
    ),
    path(
        "projects/<slug:slug>/webhooks/<id:pk>/delete",
        views.webhook_delete,
        name="webhook-delete",
    ),
]
