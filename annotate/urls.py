from __future__ import annotations

from django.urls import path

import config.converters  # noqa: F401  (registers <id:...>)
from annotate.views import (
    exporting,
    importing,
    judging,
    leaderboard,
    members,
    projects,
    quality,
    review,
)

urlpatterns = [
    path("", projects.project_list, name="project-list"),
    path("projects/new", projects.project_new, name="project-new"),
    path("markdown-preview", projects.markdown_preview, name="markdown-preview"),
    path("invitations/<str:token>", members.invitation, name="invitation"),
    path("projects/<slug:slug>/", projects.project_detail, name="project-detail"),
    path("projects/<slug:slug>/annotate", judging.annotate_page, name="annotate"),
    path("projects/<slug:slug>/import", importing.project_import, name="project-import"),
    path("projects/<slug:slug>/export", exporting.project_export, name="project-export"),
    path("projects/<slug:slug>/leaderboard", leaderboard.leaderboard_page, name="leaderboard"),
    path(
        "projects/<slug:slug>/leaderboard.csv",
        leaderboard.leaderboard_download,
        name="leaderboard-csv",
    ),
    path("projects/<slug:slug>/quality", quality.quality_page, name="project-quality"),
    *(
        path(
            f"projects/<slug:slug>/quality/annotators/<id:user_id>/{action}",
            quality.annotator_pause,
            {"action": action},
            name=f"project-annotator-{action}",
        )
        for action in ("pause", "reinstate")
    ),
    path("projects/<slug:slug>/settings", projects.project_settings, name="project-settings"),
    path("projects/<slug:slug>/archive", projects.project_archive, name="project-archive"),
    path("projects/<slug:slug>/delete", projects.project_delete, name="project-delete"),
    path("projects/<slug:slug>/members", members.members, name="members"),
    path("projects/<slug:slug>/members/add", members.member_add, name="member-add"),
    path("projects/<slug:slug>/members/invite", members.member_invite, name="member-invite"),
    path(
        "projects/<slug:slug>/invitations/<int:invitation_id>/revoke",
        members.invitation_revoke,
        name="invitation-revoke",
    ),
    path(
        "projects/<slug:slug>/members/<id:user_id>/role",
        members.member_role,
        name="member-role",
    ),
    path(
        "projects/<slug:slug>/members/<id:user_id>/remove",
        members.member_remove,
        name="member-remove",
    ),
    path("projects/<slug:slug>/pairs", review.pair_list, name="pairs"),
    path("projects/<slug:slug>/pairs/<id:pk>", review.pair_detail, name="pair-detail"),
    path("projects/<slug:slug>/pairs/<id:pk>/gold", review.pair_gold, name="pair-gold"),
    path(
        "projects/<slug:slug>/pairs/<id:pk>/judgements/<id:judgement_id>/invalidate",
        review.judgement_invalidate,
        name="judgement-invalidate",
    ),
    path(
        "projects/<slug:slug>/pairs/<id:pk>/judgements/<id:judgement_id>/restore",
        review.judgement_restore,
        name="judgement-restore",
    ),
]
