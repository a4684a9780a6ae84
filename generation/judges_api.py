"""AI judge endpoints (project admins): make a judge, edit its template, run it, settings."""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.api.paging import keyset_list
from annotate.api.serializers import CursorQuerySerializer
from annotate.formats import jsonl_chunks
from annotate.models import Project
from annotate.permissions import IsProjectAdmin, ProjectAPIView
from annotate.projects.lifecycle import ProjectArchived
from annotate.statistics import RETRY_AFTER_SECONDS, served_body
from generation.calls import PARAM_TYPES
from generation.judges import (
    JudgeInputError,
    cancel_judge_run,
    make_judge,
    project_judges,
    start_judge_run,
    update_judge,
)
from generation.judges_board import served_side_by_side
from generation.judges_models import Judge, JudgeRun, JudgeScope
from generation.judges_prompt import TemplateInvalid, check_template, check_user_template
from generation.judges_steering import settle_with_judges
from generation.judges_votes import judge_export_rows, project_judge_votes
from generation.models import ModelEndpoint


def check_params(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise serializers.ValidationError("an object of sampling parameters")
    for key, given in value.items():
        if key not in PARAM_TYPES:
            raise serializers.ValidationError(f"unknown parameter {key!r}")
        if isinstance(given, bool) or not isinstance(given, PARAM_TYPES[key]):
            raise serializers.ValidationError(f"{key}: wrong type")
    return value


class JudgeInputSerializer(serializers.Serializer):
    """A judge's editable parts; `endpoint` (its name) only when making one."""

    endpoint = serializers.CharField(max_length=100, required=False)
    system_template = serializers.CharField(required=False, trim_whitespace=False)
    user_template = serializers.CharField(required=False, trim_whitespace=False)
    params = serializers.JSONField(required=False)

    def validate_system_template(self, value: str) -> str:
        try:
            return check_template(value, field="system_template")
        except TemplateInvalid as error:
            raise serializers.ValidationError(str(error)) from None

    def validate_user_template(self, value: str) -> str:
        try:
            return check_user_template(value)
        except TemplateInvalid as error:
            raise serializers.ValidationError(str(error)) from None

    def validate_params(self, value: Any) -> dict[str, Any]:
        return check_params(value)


class RunInputSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=JudgeScope.choices, default=JudgeScope.BOTH)


class JudgeSettingsSerializer(serializers.ModelSerializer):
    """The project's judge settings: whether votes count, and the judges' shortcut."""

    class Meta:
        model = Project
        fields = ["judge_votes_count", "judge_settled_votes", "judge_audit_share"]
        extra_kwargs = {"judge_settled_votes": {"min_value": 1, "max_value": 100}}


def run_json(run: JudgeRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "scope": run.scope,
        "status": run.status,
        "total": run.total,
        "done": run.done,
        "votes": run.votes,
        "inconsistent": run.inconsistent,
        "unparsed": run.unparsed,
        "failed": run.failed,
        "errors": run.errors[:20],
        "created_at": run.created_at,
        "finished_at": run.finished_at,
    }


def judge_json(judge: Judge) -> dict[str, Any]:
    # A list reads every judge's latest run at once (project_judges); one judge reads its own.
    latest = judge.latest if hasattr(judge, "latest") else judge.runs.first()
    return {
        "id": judge.pk,
        "endpoint": judge.endpoint.name,
        "rater": judge.rater_id,
        "system_template": judge.system_template,
        "user_template": judge.user_template,
        "params": judge.params,
        "latest_run": None if latest is None else run_json(latest),
    }


def _error(error: JudgeInputError | ProjectArchived) -> ValidationError:
    field = error.field if isinstance(error, JudgeInputError) else "project"
    return ValidationError({field: [str(error)]})


class JudgeListView(ProjectAPIView):
    """The project's AI judges, and making an endpoint a judge."""

    permission_classes = [IsAuthenticated & IsProjectAdmin]

    @extend_schema(
        operation_id="projects_judges_list",
        responses=OpenApiResponse(OpenApiTypes.OBJECT, description="a list of judges"),
    )
    def get(self, request: Request, slug: str) -> Response:
        return Response([judge_json(j) for j in project_judges(self.get_object())])

    @extend_schema(request=JudgeInputSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request, slug: str) -> Response:
        project = self.get_object()
        data = JudgeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        name = values.pop("endpoint", None)
        if not name:
            raise ValidationError({"endpoint": ["name the endpoint that judges"]})
        endpoint = ModelEndpoint.objects.filter(project=project, name=name).first()
        if endpoint is None:
            raise ValidationError({"endpoint": [f"no endpoint named {name!r} in this project"]})
        judge = make_judge(endpoint)
        try:
            update_judge(judge, **values)
        except JudgeInputError as error:
            raise _error(error) from None
        return Response(judge_json(judge), status=status.HTTP_201_CREATED)


class JudgeDetailView(ProjectAPIView):
    """One judge: its template and parameters (a change clears its verdicts)."""

    permission_classes = [IsAuthenticated & IsProjectAdmin]

    def judge(self, judge_id: int) -> Judge:
        project = self.get_object()
        judge = Judge.objects.filter(project=project, pk=judge_id).select_related("endpoint")
        found = judge.first()
        if found is None:
            from django.http import Http404

            raise Http404("No such judge")
        return found

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, slug: str, judge_id: int) -> Response:
        return Response(judge_json(self.judge(judge_id)))

    @extend_schema(request=JudgeInputSerializer, responses=OpenApiTypes.OBJECT)
    def patch(self, request: Request, slug: str, judge_id: int) -> Response:
        judge = self.judge(judge_id)
        data = JudgeInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = {k: v for k, v in data.validated_data.items() if k != "endpoint"}
        try:
            cleared = update_judge(judge, **values)
        except JudgeInputError as error:
            raise _error(error) from None
        return Response({**judge_json(judge), "verdicts_cleared": cleared})


class JudgeRunView(JudgeDetailView):
    """Run the judge over pending pairs, completed ones (to measure it) or both."""

    http_method_names = ["get", "post", "head", "options"]

    @extend_schema(
        operation_id="projects_judges_runs_list",
        parameters=[CursorQuerySerializer],
        responses=OpenApiResponse(
            OpenApiTypes.OBJECT,
            description="a keyset page `{next, cursor, results}` of the judge's runs, newest first",
        ),
    )
    def get(self, request: Request, slug: str, judge_id: int) -> Response:
        runs = JudgeRun.objects.filter(judge=self.judge(judge_id))
        return keyset_list(request, runs, lambda rows: [run_json(r) for r in rows])

    @extend_schema(request=RunInputSerializer, responses={202: OpenApiTypes.OBJECT})
    def post(self, request: Request, slug: str, judge_id: int) -> Response:
        judge = self.judge(judge_id)
        data = RunInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            run = start_judge_run(judge, request.user, scope=data.validated_data["scope"])
        except (JudgeInputError, ProjectArchived) as error:
            raise _error(error) from None
        return Response(run_json(run), status=status.HTTP_202_ACCEPTED)


class JudgeRunCancelView(JudgeDetailView):
    """Cancel one of the judge's runs in progress."""

    http_method_names = ["post", "options"]

    @extend_schema(request=None, responses={204: None, 404: OpenApiTypes.OBJECT})
    def post(self, request: Request, slug: str, judge_id: int, run_id: int) -> Response:
        judge = self.judge(judge_id)
        run = judge.runs.filter(pk=run_id).first()
        if run is None or not cancel_judge_run(run):
            return Response({"detail": "No such run in progress."}, status=404)
        return Response(status=status.HTTP_204_NO_CONTENT)


class JudgeSettingsView(ProjectAPIView):
    """Whether judges' votes count, and pairs they agree on settled with fewer human votes."""

    permission_classes = [IsAuthenticated & IsProjectAdmin]

    @extend_schema(responses=JudgeSettingsSerializer)
    def get(self, request: Request, slug: str) -> Response:
        return Response(JudgeSettingsSerializer(self.get_object()).data)

    @extend_schema(request=JudgeSettingsSerializer, responses=JudgeSettingsSerializer)
    def post(self, request: Request, slug: str) -> Response:
        project = self.get_object()
        data = JudgeSettingsSerializer(project, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        data.save()
        settle_with_judges(project, project_judge_votes(project))
        return Response(data.data)


class JudgeLeaderboardView(JudgeDetailView):
    """The leaderboard from the humans and from the judge, side by side, with rank correlation."""

    throttle_scope = "expensive"
    http_method_names = ["get", "head", "options"]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, slug: str, judge_id: int) -> Response:
        body, status = served_body(served_side_by_side(self.judge(judge_id)))
        answer = Response(body, status=status)
        if status == 202:
            answer["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return answer


class JudgeExportView(ProjectAPIView):
    """The judges' decisions as JSONL: one row per pair, one column per judge.

    Kept apart from the humans' exports, which never carry judges' votes by default.
    """

    permission_classes = [IsAuthenticated & IsProjectAdmin]

    @extend_schema(
        responses=OpenApiResponse(OpenApiTypes.STR, description="JSON Lines, one row per pair")
    )
    def get(self, request: Request, slug: str) -> StreamingHttpResponse:
        project = self.get_object()
        response = StreamingHttpResponse(
            jsonl_chunks(judge_export_rows(project)), content_type="application/x-ndjson"
        )
        response["Content-Disposition"] = f'attachment; filename="{project.slug}-judges.jsonl"'
        return response
