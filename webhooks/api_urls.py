from __future__ import annotations

from django.urls import path

import config.converters  # noqa: F401  (registers <id:...>)
from webhooks.api import DeliveryListView, WebhookDetailView, WebhookListView

urlpatterns = [
    path("projects/<slug:slug>/webhooks", WebhookListView.as_view(), name="webhooks-api"),
    path(
        "projects/<slug:slug>/webhooks/<id:pk>",
        WebhookDetailView.as_view(),
        name="webhook-detail-api",
    ),
    path(
        "projects/<slug:slug>/webhooks/<id:pk>/deliveries",
        DeliveryListView.as_view(),
        name="webhook-deliveries-api",
    ),
]
