"""URLs of the AI judges: `api_urlpatterns` under /api/, `urlpatterns` for the page."""

from __future__ import annotations

from django.urls import path

import config.converters  # noqa: F401  (registers <id:...>)
from generation import judges_api, judges_views

api_urlpatterns = [
    path("projects/<slug:slug>/judges", judges_api.JudgeListView.as_view(), name="api-judges"),
    path(
        "projects/<slug:slug>/judges/settings",
        judges_api.JudgeSettingsView.as_view(),
        name="api-judge-settings",
    ),
    path(
        "projects/<slug:slug>/judges/export",
        judges_api.JudgeExportView.as_view(),
        name="api-judge-export",
    ),
    path(
        "projects/<slug:slug>/judges/<id:judge_id>",
        judges_api.JudgeDetailView.as_view(),
        name="api-judge",
    ),
    path(
        "projects/<slug:slug>/judges/<id:judge_id>/runs",
        judges_api.JudgeRunView.as_view(),
        name="api-judge-runs",
    ),
    path(
        "projects/<slug:slug>/judges/<id:judge_id>/leaderboard",
        judges_api.JudgeLeaderboardView.as_view(),
        name="api-judge-leaderboard",
    ),
    path(
        "projects/<slug:slug>/judges/<id:judge_id>/runs/<id:run_id>/cancel",
        judges_api.JudgeRunCancelView.as_view(),
        name="api-judge-run-cancel",
    ),
]

urlpatterns = [
    path("projects/<slug:slug>/judges", judges_views.judges_page, name="project-judges"),
    path(
        "projects/<slug:slug>/judges/<id:judge_id>/leaderboard",
        judges_views.judge_leaderboard_page,
        name="project-judge-leaderboard",
    ),
    path(
        "projects/<slug:slug>/judges/<str:action>",
        judges_views.judges_action,
        name="project-judges-action",
    ),
]
