from __future__ import annotations

from django.contrib import admin

from annotate.admin_paging import BigTableAdmin
from rewards.models import EmbeddingRun, ResponseScore, RewardModel, ScoreRequest, TrainingRun


@admin.register(RewardModel)
class RewardModelAdmin(admin.ModelAdmin):
    list_display = ["project", "version", "mode", "judgements", "is_active", "trained_at"]
    list_filter = ["project", "mode", "is_active"]


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "status", "trigger", "mode", "progress", "created_at"]
    list_filter = ["status", "trigger", "project"]


@admin.register(ResponseScore)
class ResponseScoreAdmin(BigTableAdmin):
    list_display = ["response", "model", "mean", "std"]
    # The model's name reads its project's slug.
    list_select_related = ["response", "model__project"]
    raw_id_fields = ["response"]


@admin.register(EmbeddingRun)
class EmbeddingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "status", "progress", "total", "embedded"]


@admin.register(ScoreRequest)
class ScoreRequestAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "model", "status", "created_at"]
