from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from annotate.api.views import ImportJobView, ProjectViewSet

# Accept paths with and without the trailing slash (`/api/projects/demo/members`).
router = SimpleRouter()
router.trailing_slash = "/?"
router.register("projects", ProjectViewSet, basename="project")

urlpatterns = [
    *router.urls,
    path("imports/<int:pk>", ImportJobView.as_view(), name="import-detail"),
]
