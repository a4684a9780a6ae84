"""Model endpoints and generation jobs (project admins; page twin: views.py).

Annotators get 403 and outsiders 404, like every admin endpoint of a project.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.api.paging import keyset_list, keyset_schema
from annotate.api.serializers import CursorQuerySerializer
from annotate.models import Project
from annotate.permissions import IsProjectAdmin, ProjectAPIView, signed_in_user
from annotate.projects.lifecycle import ProjectArchived
from config.celery import WAITING_FOR_WORKERS, unsent_tasks
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
    resume_generation,
    start_generation,
)
from generation.models import GenerationJob, ModelEndpoint
from generation.serializers import (
    LIST_PREFETCH,
    EndpointInputSerializer,
    EndpointSerializer,
    GenerationInputSerializer,
    GenerationJobRowSerializer,
    GenerationJobSerializer,
)

ENDPOINT_EXAMPLE = OpenApiExample(
    "A vLLM server",
    value={
        "name": "policy-v3",
        "base_url": "http://vllm:8000/v1",
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "api_key_env": "VLLM_KEY",
        "params": {"temperature": 0.8, "max_tokens": 512},
        "concurrency": 8,
        "requests_per_minute": 600,
        "timeout_s": 120,
    },
    request_only=True,
)


def _refused(field: str, error: Exception) -> Response:
    return Response({field: [str(error)]}, status=status.HTTP_400_BAD_REQUEST)


class _AdminView(ProjectAPIView):
    permission_classes = [IsAuthenticated & IsProjectAdmin]

    def endpoint(self, project: Project, endpoint_id: int) -> ModelEndpoint:
        try:
            return access_endpoint(project, endpoint_id)
        except ModelEndpoint.DoesNotExist:
            raise Http404("No such endpoint in this project.") from None

    def job(self, project: Project, job_id: int) -> GenerationJob:
        job = GenerationJob.objects.filter(project=project, pk=job_id).first()
        if job is None:
            raise Http404("No such generation job in this project.")
        return job


class EndpointListView(_AdminView):
    """The project's model endpoints (never their keys); POST registers one."""

    @extend_schema(responses=EndpointSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        rows = project_endpoints(self.get_object())
        return Response(EndpointSerializer(rows, many=True).data)

    @extend_schema(
        request=EndpointInputSerializer,
        responses={201: EndpointSerializer},
        examples=[ENDPOINT_EXAMPLE],
    )
    def post(self, request: Request, slug: str) -> Response:
        project = self.get_object()
        data = EndpointInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            endpoint = create_endpoint(project, **data.validated_data)
        except EndpointNameTaken as error:
            return _refused("name", error)
        except ProjectArchived as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(EndpointSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class EndpointDetailView(_AdminView):
    """Change an endpoint (partial; `api_key` replaces the key) or remove it."""

    @extend_schema(request=EndpointInputSerializer, responses=EndpointSerializer)
    def patch(self, request: Request, slug: str, pk: int) -> Response:
        endpoint = self.endpoint(self.get_object(), pk)
        data = EndpointInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        try:
            endpoint = update_endpoint(endpoint, **data.validated_data)
        except EndpointNameTaken as error:
            return _refused("name", error)
        except ProjectArchived as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str, pk: int) -> Response:
        delete_endpoint(self.endpoint(self.get_object(), pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


def start_from_input(project: Project, user: Any, data: dict[str, Any]) -> GenerationJob:
    """Start a job from GenerationInputSerializer's data (endpoint names resolved here)."""
    names = data["endpoints"]
    found = {e.name: e for e in project_endpoints(project).filter(name__in=names)}
    missing = [n for n in names if n not in found]
    if missing:
        raise GenerationInputError("endpoints", f"no endpoint named {', '.join(missing)}")
    reference = data.get("reference") or ""
    if reference and reference not in found:
        raise GenerationInputError("reference", f"{reference} is not one of the endpoints")
    return start_generation(
        project,
        user,
        endpoints=[found[n] for n in dict.fromkeys(names)],
        samples=data["samples"],
        params=data.get("params") or {},
        pairing=data["pairing"],
        reference=found.get(reference),
        pairs_per_prompt=data["pairs_per_prompt"],
    )


class GenerationListView(_AdminView):
    """The project's generation jobs, newest first, 50 a page; POST starts one on the workers."""

    @extend_schema(
        operation_id="projects_generations_list",
        parameters=[CursorQuerySerializer],
        responses=keyset_schema("GenerationJobPage", GenerationJobRowSerializer),
    )
    def get(self, request: Request, slug: str) -> Response:
        jobs = GenerationJob.objects.filter(project=self.get_object()).prefetch_related(
            *LIST_PREFETCH
        )
        return keyset_list(
            request, jobs, lambda rows: GenerationJobRowSerializer(rows, many=True).data
        )

    @extend_schema(
        request=GenerationInputSerializer,
        responses={201: GenerationJobSerializer},
        examples=[
            OpenApiExample(
                "Two samples from two endpoints",
                value={"endpoints": ["policy-v3", "policy-v4"], "samples": 2, "pairing": "all"},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request, slug: str) -> Response:
        project = self.get_object()
        data = GenerationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            with unsent_tasks() as unsent:
                job = start_from_input(project, signed_in_user(request), data.validated_data)
        except GenerationInputError as error:
            return _refused(error.field, error)
        except ProjectArchived as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        body = dict(GenerationJobSerializer(job).data)
        if unsent:
            body["notice"] = WAITING_FOR_WORKERS
        return Response(body, status=status.HTTP_201_CREATED)


class GenerationDetailView(_AdminView):
    """A job's progress: counts, and the failed samples per prompt."""

    @extend_schema(responses=GenerationJobSerializer)
    def get(self, request: Request, slug: str, pk: int) -> Response:
        job = self.job(self.get_object(), pk)
        return Response(GenerationJobSerializer(job).data)


class GenerationActionView(_AdminView):
    """`cancel` stops a job (stored samples stay); `resume` runs it again, retrying failures."""

    action_name = ""

    @extend_schema(request=None, responses=GenerationJobSerializer)
    def post(self, request: Request, slug: str, pk: int) -> Response:
        job = self.job(self.get_object(), pk)
        try:
            if self.action_name == "cancel":
                cancel_generation(job)
            else:
                resume_generation(job)
        except ProjectArchived as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(GenerationJobSerializer(job).data)
