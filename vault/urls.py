"""Settings pages of the vault: credentials and model providers, in the settings layout."""

from django.urls import path

from . import views

app_name = "vault"

urlpatterns = [
    path("settings/<int:workspace_id>/credentials/", views.credentials, name="credentials"),
    path(
        "settings/<int:workspace_id>/credentials/create/",
        views.credential_create,
        name="credential_create",
    ),
    path(
        "settings/<int:workspace_id>/credentials/<int:credential_id>/replace/",
        views.credential_replace,
        name="credential_replace",
    ),
    path(
        "settings/<int:workspace_id>/credentials/<int:credential_id>/delete/",
        views.credential_delete,
        name="credential_delete",
    ),
    path("settings/<int:workspace_id>/providers/", views.providers, name="providers"),
    path(
        "settings/<int:workspace_id>/providers/create/",
        views.provider_create,
        name="provider_create",
    ),
    path(
        "settings/<int:workspace_id>/providers/<int:provider_id>/update/",
        views.provider_update,
        name="provider_update",
    ),
    path(
        "settings/<int:workspace_id>/providers/<int:provider_id>/delete/",
        views.provider_delete,
        name="provider_delete",
    ),
]
