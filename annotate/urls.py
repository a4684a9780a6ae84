from __future__ import annotations

from django.urls import path

from annotate import member_views, pair_views, project_views, quality_views, views

urlpatterns = [
    path("", views.project_list, name="project-list"),
    path("projects/new", project_views.project_new, name="project-new"),
    path("markdown-preview", project_views.markdown_preview, name="markdown-preview"),
    path("invitations/<str:token>", member_views.invitation, name="invitation"),
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
    path("projects/<slug:slug>/settings", project_views.project_settings, name="project-settings"),
    path("projects/<slug:slug>/archive", project_views.project_archive, name="project-archive"),
    path("projects/<slug:slug>/delete", project_views.project_delete, name="project-delete"),
    path("projects/<slug:slug>/members", member_views.members, name="members"),
    path("projects/<slug:slug>/members/add", member_views.member_add, name="member-add"),
    path("projects/<slug:slug>/members/invite", member_views.member_invite, name="member-invite"),
    path(
        "projects/<slug:slug>/invitations/<int:invitation_id>/revoke",
        member_views.invitation_revoke,
        name="invitation-revoke",
    ),
    path(
        "projects/<slug:slug>/members/<id:user_id>/role",
        member_views.member_role,
        name="member-role",
    ),
    path(
        "projects/<slug:slug>/members/<id:user_id>/remove",
        member_views.member_remove,
        name="member-remove",
    ),
    path("projects/<slug:slug>/pairs", pair_views.pair_list, name="pairs"),
    path("projects/<slug:slug>/pairs/<id:pk>", pair_views.pair_detail, name="pair-detail"),
    path("projects/<slug:slug>/pairs/<id:pk>/gold", pair_views.pair_gold, name="pair-gold"),
    path(
        "projects/<slug:slug>/pairs/<id:pk>/judgements/<id:judgement_id>/invalidate",
        pair_views.judgement_invalidate,
        name="judgement-invalidate",
    ),
    path(
        "projects/<slug:slug>/pairs/<id:pk>/judgements/<id:judgement_id>/restore",
        pair_views.judgement_restore,
        name="judgement-restore",
    ),
]
