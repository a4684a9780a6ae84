"""The webhooks page (project admins): subscriptions, their deliveries and attempts (API twin:
webhooks/api.py)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotate.models import Project
from annotate.permissions import access_project, signed_in_user
from annotate.views.parsing import InvalidInput, error_messages, parse
from webhooks.events import EVENTS
from webhooks.models import Subscription
from webhooks.serializers import SubscriptionInputSerializer
from webhooks.subscriptions import (
    access_subscription,
    create_subscription,
    delete_subscription,
    project_subscriptions,
    recent_deliveries,
    update_subscription,
)

# The secret of the subscription just made, shown once on the next page view (PRG).
SESSION_SECRET = "webhook-secret"


def _subscription(project: Project, pk: int) -> Subscription:
    try:
        return access_subscription(project, pk)
    except Subscription.DoesNotExist:
        raise Http404("No such webhook in this project.") from None


def _errors(exc: InvalidInput) -> dict[str, list[str]]:
    return {field: error_messages(detail) for field, detail in exc.errors.items()}


def _list_page(
    request: HttpRequest, project: Project, *, form: Any = None, status: int = 200
) -> HttpResponse:
    context = {
        "project": project,
        "subscriptions": project_subscriptions(project),
        "events": EVENTS,
        "created": request.session.pop(SESSION_SECRET, None),
        "form": form or {"values": {}, "errors": {}},
    }
    return render(request, "webhooks/list.html", context, status=status)


@login_required
@require_GET
def webhooks_page(request: HttpRequest, slug: str) -> HttpResponse:
    return _list_page(request, access_project(request.user, slug, admin=True))


@login_required
@require_POST
def webhook_add(request: HttpRequest, slug: str) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    try:
        data = parse(SubscriptionInputSerializer, request.POST)
    except InvalidInput as exc:
        form = {"values": _values(request), "errors": _errors(exc)}
        return _list_page(request, project, form=form, status=400)
    data.pop("is_active", None)
    subscription, secret = create_subscription(project, **data, by=signed_in_user(request))
    request.session[SESSION_SECRET] = {"id": subscription.pk, "secret": secret}
    return redirect("webhooks", slug=slug)


def _values(request: HttpRequest) -> dict[str, Any]:
    return {"url": request.POST.get("url", ""), "events": request.POST.getlist("events")}


def _detail_page(
    request: HttpRequest,
    project: Project,
    subscription: Subscription,
    *,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "project": project,
        "subscription": subscription,
        "events": EVENTS,
        "deliveries": recent_deliveries(subscription, limit=50),
        "errors": errors or {},
    }
    return render(request, "webhooks/detail.html", context, status=status)


@login_required
@require_GET
def webhook_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    return _detail_page(request, project, _subscription(project, pk))


@login_required
@require_POST
def webhook_update(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Change the URL and events (and the secret when one is typed)."""
    project = access_project(request.user, slug, admin=True)
    subscription = _subscription(project, pk)
    try:
        data = parse(SubscriptionInputSerializer, request.POST)
    except InvalidInput as exc:
        return _detail_page(request, project, subscription, errors=_errors(exc), status=400)
    data.pop("is_active", None)
    update_subscription(subscription, **data)
    messages.success(request, "Webhook saved.")
    return redirect("webhook-detail", slug=slug, pk=pk)


@login_required
@require_POST
def webhook_state(request: HttpRequest, slug: str, pk: int, action: str) -> HttpResponse:
    """Pause or resume (resuming sends the held deliveries)."""
    project = access_project(request.user, slug, admin=True)
    subscription = _subscription(project, pk)
    update_subscription(subscription, is_active=action == "resume")
    messages.success(request, "Webhook resumed." if action == "resume" else "Webhook paused.")
    return redirect("webhook-detail", slug=slug, pk=pk)


@login_required
@require_POST
def webhook_delete(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    delete_subscription(_subscription(project, pk))
    messages.success(request, "Webhook deleted.")
    return redirect("webhooks", slug=slug)
