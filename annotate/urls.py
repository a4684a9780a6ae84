from __future__ import annotations

from django.urls import path

from annotate import quality_views, views

urlpatterns = [
    path("", views.project_list, name="project-list"),
    path("projects/<slug:slug>/", views.project_detail, name="project-detail"),
    path("projects/<slug:slug>/annotate", views.annotate_page, name="annotate"),
    path("projects/<slug:slug>/import", views.project_import, name="project-import"),
    path("projects/<slug:slug>/export", views.project_export, name="project-export"),
    path("projects/<slug:slug>/leaderboard", views.leaderboard_page, name="leaderboard"),
    path(
        "projects/<slug:slug>/leaderboard.csv", views.leaderboard_download, name="leaderboard-csv"
    ),
    path("projects/<slug:slug>/quality", quality_views.quality_page, name="project-quality"),
    *(
        path(
            f"projects/<slug:slug>/quality/annotators/<id:user_id>/{action}",
            quality_views.annotator_pause,
            {"action": action},
            name=f"project-annotator-{action}",
        )
        for action in ("pause", "reinstate")
    ),
]
