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
    # The graph changes only through the draft save, which validates it and bumps the revision
    # that the canvas's optimistic saves rely on.
    readonly_fields = ["graph", "revision", "created_at", "updated_at"]
    inlines = [FlowVersionInline]


@admin.register(FlowVersion)
class FlowVersionAdmin(admin.ModelAdmin):
    list_display = ["flow", "number", "published", "is_draft_snapshot", "created_by", "created_at"]
    list_filter = ["published", "is_draft_snapshot", "flow__workspace"]
    search_fields = ["flow__name", "note"]

    # Versions are immutable and made only by publishing: the admin shows them, nothing more.
    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
