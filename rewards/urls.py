from __future__ import annotations

from django.urls import path

import config.converters  # noqa: F401  (registers <id:...>)
from rewards import views

urlpatterns = [
    path("projects/<slug:slug>/models", views.models_page, name="models"),
    path("projects/<slug:slug>/models/retrain", views.retrain, name="models-retrain"),
    path(
        "projects/<slug:slug>/models/<id:pk>/activate",
        views.activate_version,
        name="models-activate",
    ),
    path(
        "projects/<slug:slug>/models/runs/<id:pk>/cancel",
        views.cancel_training_run,
        name="models-cancel-run",
    ),
]
