from __future__ import annotations

from django.urls import path

from rewards import views

urlpatterns = [
    path("projects/<slug:slug>/models", views.models_page, name="models"),
    path("projects/<slug:slug>/models/retrain", views.retrain, name="models-retrain"),
    path(
        "projects/<slug:slug>/models/<id:pk>/activate",
        views.activate_version,
        name="models-activate",
    ),
]
