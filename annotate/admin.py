from __future__ import annotations

from django.contrib import admin

from annotate.admin_paging import BigTableAdmin
from annotate.models import (
    Assignment,
    ImportJob,
    Judgement,
    Membership,
    Pair,
    Project,
    Prompt,
    Response,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "judgements_per_pair", "acquisition", "retrain_every"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["project", "user", "role"]
    list_filter = ["role", "project"]


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "__str__", "turn_count"]
    list_filter = ["project"]
    list_select_related = ["project"]


@admin.register(Response)
class ResponseAdmin(BigTableAdmin):
    list_display = ["id", "prompt", "model_name", "__str__"]
    list_select_related = ["prompt"]
    raw_id_fields = ["prompt"]
    search_fields = ["model_name"]


@admin.register(Pair)
class PairAdmin(BigTableAdmin):
    list_display = ["id", "project", "status", "priority", "judgement_count", "gold_label"]
    list_filter = ["project", "status"]
    raw_id_fields = ["prompt", "response_a", "response_b"]
    list_select_related = ["project", "rank"]

    @admin.display(ordering="rank__priority")
    def priority(self, pair: Pair) -> float:
        return pair.rank.priority


@admin.register(Assignment)
class AssignmentAdmin(BigTableAdmin):
    list_display = ["id", "pair", "annotator", "left_is_a", "expires_at", "outcome"]
    list_select_related = ["pair", "annotator"]
    raw_id_fields = ["pair"]


@admin.register(Judgement)
class JudgementAdmin(BigTableAdmin):
    list_display = ["id", "pair", "annotator", "choice", "shown_left", "source", "created_at"]
    list_filter = ["source", "choice"]
    list_select_related = ["pair", "annotator"]
    raw_id_fields = ["pair", "assignment"]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "original_name", "status", "created_at"]
    list_filter = ["status"]
