"""The endpoints and generation pages (project admins; API twin: generation/api.py)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotate.models import Project
from annotate.permissions import access_project, signed_in_user
from annotate.projects.lifecycle import ProjectArchived
from annotate.views.parsing import InvalidInput, error_messages, parse
from generation.api import start_from_input
from generation.endpoints import (
    EndpointNameTaken,
    access_endpoint,
    create_endpoint,
    delete_endpoint,
    project_endpoints,
    update_endpoint,
)
from generation.jobs import (
    GenerationInputError,
    cancel_generation,
    failures,
    resume_generation,
)
from generation.models import GenerationJob, ModelEndpoint, Pairing
from generation.serializers import EndpointInputSerializer, GenerationInputSerializer

# The form fields an endpoint page echoes back after a refusal (never the key).
ECHOED = (
    "name",
    "base_url",
    "model",
    "api_key_env",
    "params",
    "concurrency",
    "requests_per_minute",
    "timeout_s",
)
# What the endpoint forms send the serializer: the echoed fields and the key.
INPUT = (*ECHOED, "api_key")


def _errors(exc: InvalidInput) -> dict[str, list[str]]:
    return {field: error_messages(detail) for field, detail in exc.errors.items()}


def _endpoints_page(
    request: HttpRequest,
    project: Project,
    *,
    form: Any = None,
    edit: Any = None,
    status: int = 200,
) -> HttpResponse:
    """The list, an edit form per endpoint (`edit`: the refused one, echoed) and the add form."""
    endpoints = list(project_endpoints(project))
    editing = [
        {
            "prefix": f"ep-{e.pk}",
            **(
                edit
                if edit and edit["pk"] == e.pk
                else {"pk": e.pk, "values": _stored_values(e), "errors": {}, "open": False}
            ),
        }
        for e in endpoints
    ]
    context = {
        "project": project,
        "endpoints": endpoints,
        "editing": list(zip(endpoints, editing, strict=True)),
        "form": form or {"values": {}, "errors": {}},
    }
    return render(request, "generation/endpoints.html", context, status=status)


def _stored_values(endpoint: ModelEndpoint) -> dict[str, Any]:
    """An endpoint's fields as its edit form shows them (never the key)."""
    values = {name: getattr(endpoint, name) for name in ECHOED}
    values["params"] = json.dumps(endpoint.params) if endpoint.params else ""
    return values


@login_required
@require_GET
def endpoints_page(request: HttpRequest, slug: str) -> HttpResponse:
    return _endpoints_page(request, access_project(request.user, slug, admin=True))


def _json_field(text: str) -> Any:
    """A form's JSON text as the API's JSON value (unparsable text stays a string, which the
    serializer refuses: it must be an object)."""
    with contextlib.suppress(ValueError):
        return json.loads(text)
    return text


def _endpoint_input(post: Any) -> dict[str, Any]:
    """The page's form as the API's JSON: blank optional fields left out, params as JSON."""
    data: dict[str, Any] = {k: v for k, v in post.items() if k in INPUT and v}
    for key in ("name", "base_url", "model"):
        data.setdefault(key, "")
    if "params" in data:
        data["params"] = _json_field(data["params"])
    return data


def _endpoint_change_input(post: Any) -> dict[str, Any]:
    """The edit form as the API's PATCH body: a blank key keeps the stored one ("remove the
    key" sends it blank, which removes it); blank params and key variable clear them."""
    data = _endpoint_input(post)
    data["params"] = data.get("params", {})
    data["api_key_env"] = post.get("api_key_env", "")
    if post.get("remove_key"):
        data["api_key"] = ""
    return data


@login_required
@require_POST
def endpoint_add(request: HttpRequest, slug: str) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    values = {k: request.POST.get(k, "") for k in ECHOED}
    try:
        data = parse(EndpointInputSerializer, _endpoint_input(request.POST))
        create_endpoint(project, **data)
    except InvalidInput as exc:
        form = {"values": values, "errors": _errors(exc)}
        return _endpoints_page(request, project, form=form, status=400)
    except EndpointNameTaken as exc:
        form = {"values": values, "errors": {"name": [str(exc)]}}
        return _endpoints_page(request, project, form=form, status=400)
    except ProjectArchived as exc:
        messages.error(request, str(exc))
    return redirect("endpoints", slug=slug)


@login_required
@require_POST
def endpoint_edit(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Change an endpoint from its form; the API twin is PATCH .../endpoints/ID."""
    project = access_project(request.user, slug, admin=True)
    try:
        endpoint = access_endpoint(project, pk)
    except ModelEndpoint.DoesNotExist:
        raise Http404("No such endpoint in this project.") from None
    values = {k: request.POST.get(k, "") for k in ECHOED}
    try:
        data = parse(EndpointInputSerializer, _endpoint_change_input(request.POST))
        update_endpoint(endpoint, **data)
    except InvalidInput as exc:
        edit = {"pk": pk, "values": values, "errors": _errors(exc), "open": True}
        return _endpoints_page(request, project, edit=edit, status=400)
    except EndpointNameTaken as exc:
        edit = {"pk": pk, "values": values, "errors": {"name": [str(exc)]}, "open": True}
        return _endpoints_page(request, project, edit=edit, status=400)
    except ProjectArchived as exc:
        messages.error(request, str(exc))
        return redirect("endpoints", slug=slug)
    messages.success(request, f"Endpoint {endpoint.name} saved.")
    return redirect("endpoints", slug=slug)


@login_required
@require_POST
def endpoint_delete(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    try:
        endpoint = access_endpoint(project, pk)
    except ModelEndpoint.DoesNotExist:
        raise Http404("No such endpoint in this project.") from None
    delete_endpoint(endpoint)
    messages.success(request, f"Endpoint {endpoint.name} removed.")
    return redirect("endpoints", slug=slug)


def _generations_page(
    request: HttpRequest, project: Project, *, form: Any = None, status: int = 200
) -> HttpResponse:
    context = {
        "project": project,
        "endpoints": project_endpoints(project),
        # Newest first by id: the range scan of index generation_job_by_project.
        "jobs": GenerationJob.objects.filter(project=project).order_by("-pk")[:50],
        "pairings": Pairing.choices,
        "form": form or {"values": {"samples": 2}, "errors": {}},
    }
    return render(request, "generation/generations.html", context, status=status)


@login_required
@require_GET
def generations_page(request: HttpRequest, slug: str) -> HttpResponse:
    return _generations_page(request, access_project(request.user, slug, admin=True))


@login_required
@require_POST
def generation_start(request: HttpRequest, slug: str) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    raw: dict[str, Any] = {
        "endpoints": request.POST.getlist("endpoints"),
        "samples": request.POST.get("samples", ""),
        "pairing": request.POST.get("pairing", Pairing.ALL),
        "reference": request.POST.get("reference", ""),
        "pairs_per_prompt": request.POST.get("pairs_per_prompt") or 1,
    }
    params = request.POST.get("params", "").strip()
    values = {**raw, "params": params}  # echoed as typed
    if params:
        raw["params"] = _json_field(params)
    try:
        data = parse(GenerationInputSerializer, raw)
        job = start_from_input(project, signed_in_user(request), data)
    except InvalidInput as exc:
        form = {"values": values, "errors": _errors(exc)}
        return _generations_page(request, project, form=form, status=400)
    except GenerationInputError as exc:
        form = {"values": values, "errors": {exc.field: [str(exc)]}}
        return _generations_page(request, project, form=form, status=400)
    except ProjectArchived as exc:
        messages.error(request, str(exc))
        return redirect("generations", slug=slug)
    return redirect("generation-detail", slug=slug, pk=job.pk)


def _job(project: Project, pk: int) -> GenerationJob:
    job = GenerationJob.objects.filter(project=project, pk=pk).first()
    if job is None:
        raise Http404("No such generation job in this project.")
    return job


@login_required
@require_GET
def generation_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    job = _job(project, pk)
    context = {
        "project": project,
        "job": job,
        "endpoints": [je.endpoint.name for je in job.job_endpoints.select_related("endpoint")],
        "failures": failures(job) if job.failed else [],
        "live": job.status in ("queued", "running"),
    }
    return render(request, "generation/generation_detail.html", context)


@login_required
@require_POST
def generation_action(request: HttpRequest, slug: str, pk: int, action: str) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    job = _job(project, pk)
    try:
        cancel_generation(job) if action == "cancel" else resume_generation(job)
    except ProjectArchived as exc:
        messages.error(request, str(exc))
    return redirect("generation-detail", slug=slug, pk=pk)
