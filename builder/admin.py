from django.contrib import admin

from .models import Flow, FlowVersion


class FlowVersionInline(admin.TabularInline):
    model = FlowVersion
    extra = 0
    fields = ["number", "published", "note", "created_by", "created_at"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True


@admin.register(Flow)
class FlowAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "revision", "created_by", "updated_at", "deleted_at"]
    list_filter = ["workspace", "deleted_at"]
    search_fields = ["name", "description"]
    readonly_fields = ["revision", "created_at", "updated_at"]
    inlines = [FlowVersionInline]


@admin.register(FlowVersion)
class FlowVersionAdmin(admin.ModelAdmin):
    list_display = ["flow", "number", "published", "is_draft_snapshot", "created_by", "created_at"]
    list_filter = ["published", "is_draft_snapshot", "flow__workspace"]
    search_fields = ["flow__name", "note"]

    def get_readonly_fields(self, request, obj=None):
        # Versions are immutable: the admin shows them but never edits the graph.
        return [f.name for f in self.model._meta.fields] if obj else []
