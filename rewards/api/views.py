"""Model endpoints: retrain, follow or cancel a run, list versions, activate, score responses."""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.formats import ImportFormatError
from annotate.permissions import IsProjectAdmin, IsProjectMember, ProjectAPIView, with_role
from config.celery import WAITING_FOR_WORKERS, unsent_tasks
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
from rewards.costs import NeedsConfirmation, check_cost
from rewards.external import (
    UnknownExternalModel,
    access_external_model,
    register_external_model,
    upload_external_scores,
)
from rewards.models import RewardModel, ScoreRequest, TrainingRun
from rewards.normalization import NoSuchVersion, export_project_rewards
from rewards.overview import models_overview
from rewards.runs import RunNotCancellable, activate_model, cancel_run, request_retrain
from rewards.scoring import NotScorable, score_with_served


class RetrainAnswerSerializer(TrainingRunSerializer):
    notice = serializers.SerializerMethodField(
        help_text="Set when the new run could not be handed to the workers yet (the task queue "
        "is unreachable): it is saved and starts once they can be reached."
    )

    estimate = serializers.SerializerMethodField(
        help_text="What the mode costs on these workers: measured speed of past versions and "
        "the expected duration on the project's judgements"
    )

    class Meta(TrainingRunSerializer.Meta):
        fields = [*TrainingRunSerializer.Meta.fields, "notice", "estimate"]

    def get_notice(self, run: TrainingRun) -> str:
        return str(self.context.get("notice", ""))

    def get_estimate(self, run: TrainingRun) -> str:
        return str(self.context.get("estimate", ""))


class RetrainView(ProjectAPIView):
    """Queue a retrain (project admins); while one is live, that run is returned instead."""

    permission_classes = [IsAuthenticated & IsProjectAdmin]

    @extend_schema(
        request=RetrainInputSerializer,
        responses={202: RetrainAnswerSerializer, 200: RetrainAnswerSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        project = self.get_object()
        data = RetrainInputSerializer(data=request.data, context={"project": project})
        data.is_valid(raise_exception=True)
        options = dict(data.validated_data)
        mode = options.pop("mode")
        try:
            cost = check_cost(project, mode, confirm=options.pop("confirm"), options=options)
        except NeedsConfirmation as exc:
            return Response({"confirm": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        with unsent_tasks() as unsent:
            run, created = request_retrain(project, mode=mode, user=request.user, options=options)
        code = status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK
        notice = f"Run {WAITING_FOR_WORKERS}." if unsent else ""
        context = {"notice": notice, "estimate": cost.summary}
        return Response(RetrainAnswerSerializer(run, context=context).data, status=code)


class TrainingRunView(GenericAPIView):
    """A run's status, progress, error and the version it made (project admins)."""

    permission_classes = [IsAuthenticated & IsProjectAdmin]

    def get_queryset(self) -> Any:
        return with_role(TrainingRun.objects.select_related("project", "model"), self.request.user)

    @extend_schema(responses=TrainingRunSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(TrainingRunSerializer(self.get_object()).data)


class CancelTrainingRunView(GenericAPIView):
    """Cancel a queued or running run (project admins); its worker stops, the model served stays."""

    permission_classes = [IsAuthenticated & IsProjectAdmin]

    def get_queryset(self) -> Any:
        return with_role(TrainingRun.objects.select_related("project", "model"), self.request.user)

    @extend_schema(
        request=None,
        responses={
            200: TrainingRunSerializer,
            409: OpenApiResponse(
                description="the run had already ended, or already serves its version"
            ),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        run = self.get_object()
        try:
            cancel_run(run, by=request.user)
        except RunNotCancellable as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(TrainingRunSerializer(run).data)


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
    """Queue scoring of each response by the active model (best-of-n); follow the 202's URL.

    It answers at once: a web process never waits for a worker.
    """

    permission_classes = [IsAuthenticated & IsProjectMember]
    # Each call is a worker's scoring task (annotate/api/throttles.py).
    throttle_scope = "scoring"

    @extend_schema(
        request=ScoreInputSerializer,
        responses={
            202: OpenApiResponse(description="queued; GET its `url` for the rewards"),
            409: OpenApiResponse(description="the project has no active model yet"),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        project = self.get_object()
        data = ScoreInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            with unsent_tasks() as unsent:
                score_request = score_with_served(project, data.validated_data)
        except NotScorable as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        notice = f"Scoring {WAITING_FOR_WORKERS}." if unsent else ""
        return _score_answer(request, score_request, notice=notice)


def _score_answer(request: Request, row: ScoreRequest, *, notice: str = "") -> Response:
    """The rewards when scored (200), the error (500), or where to look again (202)."""
    if row.status == TrainingRun.Status.FAILED:
        return Response({"detail": row.error}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    if row.status == TrainingRun.Status.SUCCEEDED:
        return Response({"model": row.model.version, "rewards": row.result})
    url = request.build_absolute_uri(reverse("score-request", args=[row.pk]))
    return Response(
        {"request": row.pk, "status": row.status, "url": url, "notice": notice},
        status=status.HTTP_202_ACCEPTED,
        headers={"Location": url},
    )


class ScoreRequestView(GenericAPIView):
    """The answer to a score call that was still running when it returned 202."""

    permission_classes = [IsAuthenticated & IsProjectMember]

    def get_queryset(self) -> Any:
        return with_role(ScoreRequest.objects.all(), self.request.user)

    @extend_schema(
        responses={200: ScoreOutputSerializer, 202: OpenApiResponse(description="still scoring")}
    )
    def get(self, request: Request, pk: int) -> Response:
        return _score_answer(request, self.get_object())


class RewardsExportView(ProjectAPIView):
    """Every scored response of the project under one version: reward, z and percentile."""

    permission_classes = [IsAuthenticated & IsProjectAdmin]

    @extend_schema(
        parameters=[RewardsExportQuerySerializer],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    def get(self, request: Request, slug: str) -> StreamingHttpResponse:
        project = self.get_object()
        query = RewardsExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        try:
            return export_project_rewards(project, **query.validated_data)
        except NoSuchVersion as exc:
            raise NotFound(str(exc)) from None


class ExternalModelsView(ProjectAPIView):
    """Register a reward model trained elsewhere; its scores are uploaded next (admins)."""

    permission_classes = [IsAuthenticated & IsProjectAdmin]

    @extend_schema(request=ExternalModelInputSerializer, responses={201: RewardModelSerializer})
    def post(self, request: Request, slug: str) -> Response:
        project = self.get_object()
        data = ExternalModelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = register_external_model(project, name=data.validated_data["name"])
        return Response(RewardModelSerializer(model).data, status=status.HTTP_201_CREATED)


class ExternalScoresView(ProjectAPIView):
    """Upload an external model's per-response rewards: all rows valid, or none stored."""

    permission_classes = [IsAuthenticated & IsProjectAdmin]

    @extend_schema(
        request=ExternalScoresInputSerializer,
        responses={
            200: ExternalScoresOutputSerializer,
            400: OpenApiResponse(description="invalid rows, by line; nothing was stored"),
        },
    )
    def post(self, request: Request, slug: str, pk: int) -> Response:
        try:
            model = access_external_model(self.get_object(), pk)
        except UnknownExternalModel as exc:
            raise NotFound(str(exc)) from None
        data = ExternalScoresInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            scored = upload_external_scores(model, data.validated_data)
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
        body = {"scored": scored, "model": model}
        return Response(ExternalScoresOutputSerializer(body).data)
