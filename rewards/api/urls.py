from __future__ import annotations

from django.urls import path

import config.converters  # noqa: F401  (registers <id:...>)
from rewards.api.views import (
    ActivateView,
    CancelTrainingRunView,
    ExternalModelsView,
    ExternalScoresView,
    ModelsView,
    RetrainView,
    RewardsExportView,
    ScoreRequestView,
    ScoreView,
    TrainingRunView,
)

urlpatterns = [
    path("projects/<slug:slug>/retrain", RetrainView.as_view(), name="retrain"),
    path("projects/<slug:slug>/models", ModelsView.as_view(), name="project-models"),
    path("projects/<slug:slug>/score", ScoreView.as_view(), name="score"),
    path("projects/<slug:slug>/rewards", RewardsExportView.as_view(), name="rewards-export"),
    path(
        "projects/<slug:slug>/external-models",
        ExternalModelsView.as_view(),
        name="external-models",
    ),
    path(
        "projects/<slug:slug>/external-models/<id:pk>/scores",
        ExternalScoresView.as_view(),
        name="external-scores",
    ),
    path("training-runs/<id:pk>", TrainingRunView.as_view(), name="training-run"),
    path(
        "training-runs/<id:pk>/cancel",
        CancelTrainingRunView.as_view(),
        name="cancel-training-run",
    ),
    path("score-requests/<id:pk>", ScoreRequestView.as_view(), name="score-request"),
    path("models/<id:pk>/activate", ActivateView.as_view(), name="activate-model"),
]
