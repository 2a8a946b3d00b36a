"""Names and dates only: a value is changed in Settings → Credentials, never here."""

from django.contrib import admin

from .models import Credential, Provider, ProviderModel


@admin.register(Credential)
class CredentialAdmin(admin.ModelAdmin):
    list_display = ("name", "workspace", "created_by", "updated_at", "last_used_at")
    list_filter = ("workspace",)
    search_fields = ("name", "description")
    # The ciphertext is not shown, and a value cannot be typed here (it would skip encryption).
    fields = ("workspace", "name", "description", "created_by", "created_at", "updated_at")
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False


class ProviderModelInline(admin.TabularInline):
    model = ProviderModel
    extra = 0


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ("name", "workspace", "base_url", "credential", "updated_at")
    list_filter = ("workspace",)
    inlines = [ProviderModelInline]
    # Changed in Settings → Model providers, where the base URL goes through the address guard.
    readonly_fields = ("workspace", "name", "base_url", "credential", "created_by")
