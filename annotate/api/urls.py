from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

import config.converters  # noqa: F401  (registers <id:...>)
from annotate.api.importing import ImportJobView
from annotate.api.judging import JudgementView, NextPairView, SkipView, StatsView
from annotate.api.leaderboard import LeaderboardView
from annotate.api.members import (
    InvitationAcceptView,
    InvitationsView,
    InvitationView,
    MemberView,
)
from annotate.api.projects import ProjectViewSet
from annotate.api.quality import AnnotatorPauseView, QualityView
from annotate.api.review import (
    JudgementInvalidateView,
    JudgementRestoreView,
    PairGoldView,
    PairListView,
    PairView,
)

# Accept paths with and without the trailing slash (`/api/projects/demo/members`).
router = SimpleRouter()
router.trailing_slash = "/?"
router.register("projects", ProjectViewSet, basename="project")

urlpatterns = [
    path("projects/<slug:slug>/next", NextPairView.as_view(), name="next-pair"),
    path("projects/<slug:slug>/stats", StatsView.as_view(), name="project-stats"),
    path("projects/<slug:slug>/leaderboard", LeaderboardView.as_view(), name="leaderboard-api"),
    path("projects/<slug:slug>/quality", QualityView.as_view(), name="project-quality"),
    *(
        path(
            f"projects/<slug:slug>/annotators/<id:user_id>/{action}",
            AnnotatorPauseView.as_view(),
            {"action": action},
            name=f"annotator-{action}",
        )
        for action in ("pause", "reinstate")
    ),
    path("projects/<slug:slug>/members/<id:user_id>", MemberView.as_view(), name="member-detail"),
    path("projects/<slug:slug>/invitations", InvitationsView.as_view(), name="project-invitations"),
    path(
        "projects/<slug:slug>/invitations/<id:invitation_id>",
        InvitationView.as_view(),
        name="invitation-detail",
    ),
    path(
        "invitations/<str:token>/accept",
        InvitationAcceptView.as_view(),
        name="invitation-accept",
    ),
    path("projects/<slug:slug>/pairs", PairListView.as_view(), name="pair-list"),
    path("projects/<slug:slug>/pairs/<id:pk>", PairView.as_view(), name="pair"),
    path("projects/<slug:slug>/pairs/<id:pk>/gold", PairGoldView.as_view(), name="pair-gold-api"),
    path(
        "projects/<slug:slug>/pairs/<id:pk>/judgements/<id:judgement_id>/invalidate",
        JudgementInvalidateView.as_view(),
        name="judgement-invalidate-api",
    ),
    path(
        "projects/<slug:slug>/pairs/<id:pk>/judgements/<id:judgement_id>/restore",
        JudgementRestoreView.as_view(),
        name="judgement-restore-api",
    ),
    path("assignments/<id:pk>/judgement", JudgementView.as_view(), name="judgement"),
    path("assignments/<id:pk>/skip", SkipView.as_view(), name="skip"),
    *router.urls,
    path("imports/<id:pk>", ImportJobView.as_view(), name="import-detail"),
]
