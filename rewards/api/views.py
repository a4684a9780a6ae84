"""Model endpoints: retrain, follow a run, list versions, activate, score responses."""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterable, Iterator
from typing import Any

from django.db import transaction
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.formats import ImportFormatError, jsonl_chunks, parquet_chunks, read_rows
from annotate.models import Project
from annotate.permissions import access_project, is_project_admin, visible_projects
from rewards.api.serializers import (
    ExternalModelInputSerializer,
    ExternalScoresInputSerializer,
    ExternalScoresOutputSerializer,
    ModelsOverviewSerializer,
    RetrainInputSerializer,
    RewardModelSerializer,
    RewardsExportQuerySerializer,
    ScoreInputSerializer,
    ScoreOutputSerializer,
    TrainingRunSerializer,
)
from rewards.external import register_external_model, upload_scores
from rewards.models import Mode, RewardModel, ScoreRequest, TrainingRun
from rewards.normalization import EXPORT_SCHEMA, iter_normalized_rows
from rewards.overview import models_overview
from rewards.runs import request_retrain

# How long a score call waits for the worker before answering 202 with the request id.
SCORE_WAIT_SECONDS = 30


def _admin_project(request: Request, slug: str) -> Project:
    """Members who are not admins get 403; everyone else 404 (as in the annotate API)."""
    project = access_project(request.user, slug)
    _require_admin(request, project)
    return project


def _require_admin(request: Request, project: Project) -> None:
    if not is_project_admin(request.user, project):
        raise PermissionDenied("Only project admins may do this.")


class RetrainView(APIView):
    """Queue a retrain (project admins); while one is live, that run is returned instead."""

    @extend_schema(
        request=RetrainInputSerializer,
        responses={202: TrainingRunSerializer, 200: TrainingRunSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        project = _admin_project(request, slug)
        data = RetrainInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        options = dict(data.validated_data)
        mode = options.pop("mode")
        run, created = request_retrain(project, mode=mode, user=request.user, options=options)
        code = status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK
        return Response(TrainingRunSerializer(run).data, status=code)


class TrainingRunView(APIView):
    """A run's status, progress, error and the version it made (project admins)."""

    @extend_schema(responses=TrainingRunSerializer)
    def get(self, request: Request, pk: int) -> Response:
        run = (
            TrainingRun.objects.filter(pk=pk, project__in=visible_projects(request.user))
            .select_related("project", "model")
            .first()
        )
        if run is None:
            raise NotFound()
        _require_admin(request, run.project)
        return Response(TrainingRunSerializer(run).data)


class ModelsView(APIView):
    """The active version, all versions, recent runs and the embedding status."""

    @extend_schema(responses=ModelsOverviewSerializer)
    def get(self, request: Request, slug: str) -> Response:
        project = _admin_project(request, slug)
        return Response(ModelsOverviewSerializer(models_overview(project)).data)


class ActivateView(APIView):
    """Serve this version (rollback or roll forward) and re-rank the queue with it."""

    @extend_schema(request=None, responses=RewardModelSerializer)
    def post(self, request: Request, pk: int) -> Response:
        model = (
            RewardModel.objects.filter(pk=pk, project__in=visible_projects(request.user))
            .select_related("project")
            .first()
        )
        if model is None:
            raise NotFound()
        _require_admin(request, model.project)
        activate(model, user=request.user)
        model.refresh_from_db()
        return Response(RewardModelSerializer(model).data)


def activate(model: RewardModel, *, user: Any) -> None:
    from rewards.services import promote_model
    from rewards.tasks import rerank_project_task

    with transaction.atomic():
        promote_model(model, note=f"served: activated by {user.get_username()}")
        rerank_project_task.delay_on_commit(model.project_id)


class ScoreView(APIView):
    """Rewards of the active model for each response (best-of-n), scored by a worker."""

    @extend_schema(
        request=ScoreInputSerializer,
        responses={
            200: ScoreOutputSerializer,
            409: OpenApiResponse(description="the project has no active model yet"),
            202: OpenApiResponse(description="still scoring; poll the request"),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        project = access_project(request.user, slug)
        data = ScoreInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = RewardModel.objects.filter(project=project, is_active=True).first()
        if model is None:
            return Response(
                {"detail": "this project has no active reward model yet; retrain first"},
                status=status.HTTP_409_CONFLICT,
            )
        if model.mode == Mode.EXTERNAL:
            return Response(
                {"detail": "the served model is external: it scores only uploaded responses"},
                status=status.HTTP_409_CONFLICT,
            )
        score_request = _enqueue_score(project, model, data.validated_data)
        return _await_score(score_request.pk)


def _enqueue_score(project: Project, model: RewardModel, payload: dict) -> ScoreRequest:
    from rewards.tasks import score_request_task

    score_request = ScoreRequest.objects.create(project=project, model=model, payload=payload)
    score_request_task.delay(score_request.pk)
    return score_request


def _await_score(request_id: int, wait: float = SCORE_WAIT_SECONDS) -> Response:
    deadline = time.monotonic() + wait
    while True:
        row = ScoreRequest.objects.select_related("model").get(pk=request_id)
        if row.status == TrainingRun.Status.FAILED:
            return Response({"detail": row.error}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
        if row.status == TrainingRun.Status.SUCCEEDED:
            return Response({"model": row.model.version, "rewards": row.result})
        if time.monotonic() >= deadline:
            return Response(
                {"request": request_id, "status": row.status}, status=status.HTTP_202_ACCEPTED
            )
        time.sleep(0.05)


class ScoreRequestView(APIView):
    """The answer to a score call that was still running when it returned 202."""

    @extend_schema(
        responses={200: ScoreOutputSerializer, 202: OpenApiResponse(description="still scoring")}
    )
    def get(self, request: Request, pk: int) -> Response:
        row = ScoreRequest.objects.filter(pk=pk, project__in=visible_projects(request.user)).first()
        if row is None:
            raise NotFound()
        return _await_score(row.pk, wait=0)


class RewardsExportView(APIView):
    """Every scored response of the project under one version: reward, z and percentile."""

    @extend_schema(
        parameters=[RewardsExportQuerySerializer],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    def get(self, request: Request, slug: str) -> StreamingHttpResponse:
        project = _admin_project(request, slug)
        query = RewardsExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        models = RewardModel.objects.filter(project=project)
        version = query.validated_data.get("version")
        model = (
            models.filter(version=version).first()
            if version
            else models.filter(is_active=True).first()
        )
        if model is None:
            raise NotFound("no such version" if version else "this project serves no model yet")
        return rewards_export(model, file=query.validated_data["file"])


def rewards_export(model: RewardModel, *, file: str) -> StreamingHttpResponse:
    """A streamed download of the version's normalized rewards per response."""
    rows = iter_normalized_rows(model)
    if file == "parquet":
        chunks, content_type = parquet_chunks(rows, EXPORT_SCHEMA), "application/vnd.apache.parquet"
    else:
        chunks, content_type = jsonl_chunks(rows), "application/x-ndjson"
    response = StreamingHttpResponse(chunks, content_type=content_type)
    name = f"{model.project.slug}-rewards-v{model.version}.{file}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class ExternalModelsView(APIView):
    """Register a reward model trained elsewhere; its scores are uploaded next (admins)."""

    @extend_schema(request=ExternalModelInputSerializer, responses={201: RewardModelSerializer})
    def post(self, request: Request, slug: str) -> Response:
        project = _admin_project(request, slug)
        data = ExternalModelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = register_external_model(project, name=data.validated_data["name"])
        return Response(RewardModelSerializer(model).data, status=status.HTTP_201_CREATED)


class ExternalScoresView(APIView):
    """Upload an external model's per-response rewards: all rows valid, or none stored."""

    @extend_schema(
        request=ExternalScoresInputSerializer,
        responses={
            200: ExternalScoresOutputSerializer,
            400: OpenApiResponse(description="invalid rows, by line; nothing was stored"),
        },
    )
    def post(self, request: Request, slug: str, pk: int) -> Response:
        from rewards.tasks import rerank_project_task

        project = _admin_project(request, slug)
        model = RewardModel.objects.filter(project=project, pk=pk, mode=Mode.EXTERNAL).first()
        if model is None:
            raise NotFound("no such external model in this project")
        data = ExternalScoresInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            with score_rows(data.validated_data) as rows, transaction.atomic():
                scored = upload_scores(model, rows)
                if model.is_active:  # the queue follows the new scores
                    rerank_project_task.delay_on_commit(project.pk)
        except ImportFormatError as exc:
            return Response(
                {
                    "detail": f"{exc.total} invalid row(s); nothing was stored",
                    "errors": [
                        {"line": e.line, "field": e.field, "message": e.message} for e in exc.errors
                    ],
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        model.refresh_from_db()
        body = {"scored": scored, "model": model}
        return Response(ExternalScoresOutputSerializer(body).data)


@contextlib.contextmanager
def score_rows(data: dict) -> Iterator[Iterable[tuple[int, Any]]]:
    """(line, row) pairs from a JSON body (line = position, from 1) or a JSONL upload."""
    if "scores" in data:
        yield enumerate(data["scores"], start=1)
        return
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as copy:
        for chunk in data["file"].chunks():
            copy.write(chunk)
        copy.flush()
        yield read_rows(copy.name, "jsonl")
