"""Admin views of runs and what they recorded. History is read-only: the event log is the truth,
so the admin inspects it and offers the operations an operator needs (cancel, re-kick)."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import (
    Approval,
    ApprovalDecision,
    LlmCacheEntry,
    PantryItem,
    Recording,
    Run,
    RunEvent,
    Step,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shows rows without letting anyone add, edit or delete them."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields] + [
            f.name for f in self.model._meta.many_to_many
        ]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class StepInline(admin.TabularInline):
    model = Step
    extra = 0
    fields = [
        "node_id",
        "iteration",
        "attempt",
        "status",
        "model",
        "tokens_in",
        "tokens_out",
        "cost",
        "error_code",
        "lease_owner",
        "started_at",
        "finished_at",
    ]
    readonly_fields = fields
    can_delete = False
    show_change_link = True


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "flow",
        "status",
        "trigger",
        "created_by",
        "step_count",
        "tokens_in",
        "tokens_out",
        "cost",
        "crash_count",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "trigger", "workspace", "reproduce", "created_at"]
    search_fields = ["id", "flow__name", "created_by__username", "error_code", "error_message"]
    date_hierarchy = "created_at"
    list_select_related = ["flow", "created_by"]
    inlines = [StepInline]
    actions = ["cancel_runs", "kick_runs"]

    @admin.action(description="Cancel selected runs")
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        from . import dispatch
        from .services import run_cancel

        for run in queryset:
            dispatch.kick_all(run_cancel(run=run, user=request.user).kicks)
        self.message_user(request, f"Cancelled {queryset.count()} run(s).", messages.SUCCESS)

    @admin.action(description="Re-kick selected runs (resume after a lost kick)")
    def kick_runs(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        from . import dispatch

        live = queryset.exclude(status__in=["succeeded", "failed", "cancelled", "dead_letter"])
        dispatch.kick_all(live.values_list("pk", flat=True), redispatch=True)
        self.message_user(request, f"Kicked {live.count()} run(s).", messages.SUCCESS)


@admin.register(Step)
class StepAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "run",
        "node_id",
        "node_type",
        "iteration",
        "attempt",
        "status",
        "model",
        "tokens_in",
        "tokens_out",
        "cost",
        "cache_hit",
        "lease_owner",
        "lease_expires_at",
    ]
    list_filter = ["status", "node_type", "cache_hit", "reused"]
    search_fields = ["run__id", "node_id", "model", "error_code", "lease_owner"]
    list_select_related = ["run"]


@admin.register(RunEvent)
class RunEventAdmin(ReadOnlyAdmin):
    list_display = ["run", "seq", "kind", "node_id", "ts"]
    list_filter = ["kind"]
    search_fields = ["run__id", "node_id"]
    ordering = ["-run_id", "seq"]


class DecisionInline(admin.TabularInline):
    model = ApprovalDecision
    extra = 0
    fields = ["user", "decision", "comment", "edited_payload", "created_at"]
    readonly_fields = fields
    can_delete = False


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "run",
        "node_id",
        "title",
        "status",
        "quorum",
        "due_at",
        "created_at",
        "decided_at",
    ]
    list_filter = ["status", "workspace", "allow_edit"]
    search_fields = ["run__id", "node_id", "title", "instructions"]
    inlines = [DecisionInline]


@admin.register(ApprovalDecision)
class ApprovalDecisionAdmin(ReadOnlyAdmin):
    list_display = ["approval", "user", "decision", "created_at"]
    list_filter = ["decision"]
    search_fields = ["approval__id", "user__username", "comment"]


@admin.register(Recording)
class RecordingAdmin(ReadOnlyAdmin):
    list_display = ["step", "index", "kind"]
    list_filter = ["kind"]
    search_fields = ["step__run__id", "step__node_id"]


@admin.register(LlmCacheEntry)
class LlmCacheEntryAdmin(ReadOnlyAdmin):
    list_display = ["key", "model", "hits", "created_at"]
    search_fields = ["key", "model"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Dropping cached responses is safe: the next call simply goes to the model.
        return True


@admin.register(PantryItem)
class PantryItemAdmin(admin.ModelAdmin):
    list_display = ["name", "quantity", "unit", "workspace"]
    list_filter = ["workspace"]
    search_fields = ["name"]
