"""Registering a project's model endpoints: add, change, remove (page and API call these)."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from annotate.models import Project
from annotate.projects.lifecycle import check_not_archived
from generation.keys import encrypt_key
from generation.models import ModelEndpoint

EDITABLE = (
    "name",
    "base_url",
    "model",
    "params",
    "concurrency",
    "requests_per_minute",
    "timeout_s",
)


class EndpointNameTaken(ValueError):
    """Another endpoint of the project has this name."""


def project_endpoints(project: Project) -> QuerySet[ModelEndpoint]:
    return ModelEndpoint.objects.filter(project=project).order_by("name")


def access_endpoint(project: Project, endpoint_id: int) -> ModelEndpoint:
    """The project's endpoint; raises ModelEndpoint.DoesNotExist for another project's."""
    return ModelEndpoint.objects.get(project=project, pk=endpoint_id)


def create_endpoint(project: Project, **fields: Any) -> ModelEndpoint:
    """Add an endpoint from EndpointInputSerializer's data; the key is stored encrypted."""
    check_not_archived(project)
    endpoint = ModelEndpoint(project=project)
    _apply(endpoint, fields)
    return _save(endpoint)


def update_endpoint(endpoint: ModelEndpoint, **fields: Any) -> ModelEndpoint:
    """Change the given fields; `api_key` replaces the key ("" removes it)."""
    check_not_archived(endpoint.project)
    _apply(endpoint, fields)
    return _save(endpoint)


def delete_endpoint(endpoint: ModelEndpoint) -> None:
    """Remove the endpoint and its samples; the responses made from them stay."""
    endpoint.delete()


def _apply(endpoint: ModelEndpoint, fields: dict[str, Any]) -> None:
    for name in EDITABLE:
        if name in fields:
            setattr(endpoint, name, fields[name])
    if "api_key" in fields:
        endpoint.api_key_encrypted = encrypt_key(fields["api_key"])
        if fields["api_key"]:
            endpoint.api_key_env = ""
    if "api_key_env" in fields:
        endpoint.api_key_env = fields["api_key_env"]
        if fields["api_key_env"]:
            endpoint.api_key_encrypted = ""


def _save(endpoint: ModelEndpoint) -> ModelEndpoint:
    try:
        with transaction.atomic():
            endpoint.save()
    except IntegrityError:
        if ModelEndpoint.objects.filter(project=endpoint.project, name=endpoint.name).exclude(
            pk=endpoint.pk
        ):
            raise EndpointNameTaken(f"an endpoint named {endpoint.name!r} exists") from None
        raise
    return endpoint
