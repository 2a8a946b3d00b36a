"""Settings pages of the vault: credentials and model providers, in the settings layout."""

from django.urls import path

from config import converters  # noqa: F401 - registers <id:...>

from . import views

app_name = "vault"

urlpatterns = [
    path("settings/<id:workspace_id>/credentials/", views.credentials, name="credentials"),
    path(
        "settings/<id:workspace_id>/credentials/create/",
        views.credential_create,
        name="credential_create",
    ),
    path(
        "settings/<id:workspace_id>/credentials/<id:credential_id>/replace/",
        views.credential_replace,
        name="credential_replace",
    ),
    path(
        "settings/<id:workspace_id>/credentials/<id:credential_id>/delete/",
        views.credential_delete,
        name="credential_delete",
    ),
    path("settings/<id:workspace_id>/providers/", views.providers, name="providers"),
    path(
        "settings/<id:workspace_id>/providers/create/",
        views.provider_create,
        name="provider_create",
    ),
    path(
        "settings/<id:workspace_id>/providers/<id:provider_id>/update/",
        views.provider_update,
        name="provider_update",
    ),
    path(
        "settings/<id:workspace_id>/providers/<id:provider_id>/delete/",
        views.provider_delete,
        name="provider_delete",
    ),
]
