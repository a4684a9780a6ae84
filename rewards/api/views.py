"""Model endpoints: retrain, follow a run, list versions, activate, score responses."""

from __future__ import annotations

import time
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.models import Project
from annotate.permissions import IsProjectAdmin, IsProjectMember, ProjectAPIView, with_role
from rewards.api.serializers import (
    ModelsOverviewSerializer,
    RetrainInputSerializer,
    RewardModelSerializer,
    ScoreInputSerializer,
    ScoreOutputSerializer,
    TrainingRunSerializer,
)
from rewards.models import RewardModel, ScoreRequest, TrainingRun
from rewards.overview import models_overview
from rewards.runs import activate_model, request_retrain

# How long a score call waits for the worker before answering 202 with the request id.
SCORE_WAIT_SECONDS = 30


class RetrainView(ProjectAPIView):
    """Queue a retrain (project admins); while one is live, that run is returned instead."""

    permission_classes = [IsAuthenticated & IsProjectAdmin]

    @extend_schema(
        request=RetrainInputSerializer,
        responses={202: TrainingRunSerializer, 200: TrainingRunSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        project = self.get_object()
        data = RetrainInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        options = dict(data.validated_data)
        mode = options.pop("mode")
        run, created = request_retrain(project, mode=mode, user=request.user, options=options)
        code = status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK
        return Response(TrainingRunSerializer(run).data, status=code)


class TrainingRunView(GenericAPIView):
    """A run's status, progress, error and the version it made (project admins)."""

    permission_classes = [IsAuthenticated & IsProjectAdmin]

    def get_queryset(self) -> Any:
        return with_role(TrainingRun.objects.select_related("project", "model"), self.request.user)

    @extend_schema(responses=TrainingRunSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(TrainingRunSerializer(self.get_object()).data)


class ModelsView(ProjectAPIView):
    """The active version, all versions, recent runs and the embedding status."""

    permission_classes = [IsAuthenticated & IsProjectAdmin]

    @extend_schema(responses=ModelsOverviewSerializer)
    def get(self, request: Request, slug: str) -> Response:
        project = self.get_object()
        return Response(ModelsOverviewSerializer(models_overview(project)).data)


class ActivateView(GenericAPIView):
    """Serve this version (rollback or roll forward) and re-rank the queue with it."""

    permission_classes = [IsAuthenticated & IsProjectAdmin]

    def get_queryset(self) -> Any:
        return with_role(RewardModel.objects.select_related("project"), self.request.user)

    @extend_schema(request=None, responses=RewardModelSerializer)
    def post(self, request: Request, pk: int) -> Response:
        model = self.get_object()
        activate_model(model, user=request.user)
        model.refresh_from_db()
        return Response(RewardModelSerializer(model).data)


class ScoreView(ProjectAPIView):
    """Rewards of the active model for each response (best-of-n), scored by a worker."""

    permission_classes = [IsAuthenticated & IsProjectMember]

    @extend_schema(
        request=ScoreInputSerializer,
        responses={
            200: ScoreOutputSerializer,
            409: OpenApiResponse(description="the project has no active model yet"),
            202: OpenApiResponse(description="still scoring; poll the request"),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        project = self.get_object()
        data = ScoreInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = RewardModel.objects.filter(project=project, is_active=True).first()
        if model is None:
            return Response(
                {"detail": "this project has no active reward model yet; retrain first"},
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


class ScoreRequestView(GenericAPIView):
    """The answer to a score call that was still running when it returned 202."""

    permission_classes = [IsAuthenticated & IsProjectMember]

    def get_queryset(self) -> Any:
        return with_role(ScoreRequest.objects.all(), self.request.user)

    @extend_schema(
        responses={200: ScoreOutputSerializer, 202: OpenApiResponse(description="still scoring")}
    )
    def get(self, request: Request, pk: int) -> Response:
        return _await_score(self.get_object().pk, wait=0)
