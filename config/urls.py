from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

import config.converters  # noqa: F401  (registers <id:...>)
from config.apidocs import SchemaView, SwaggerView, inline_styles
from config.tokens import TokenView
from generation import judges_urls

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Username and password for an API token; failures count toward the login lockout (axes).
    path("api/auth/token", TokenView.as_view(), name="api-token"),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", inline_styles(SwaggerView.as_view(url_name="schema")), name="api-docs"),
    path("api/", include("annotate.api.urls")),
    path("api/", include("rewards.api.urls")),
    path("api/", include("webhooks.api_urls")),
    path("api/", include("generation.api_urls")),
    path("api/", include(judges_urls.api_urlpatterns)),
    path("", include("annotate.urls")),
    path("", include("rewards.urls")),
    path("", include("webhooks.urls")),
    path("", include("generation.urls")),
    path("", include("generation.judges_urls")),
]
