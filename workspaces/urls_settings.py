"""Workspace settings pages: members, API tokens, workspace defaults and the audit log.

The credentials vault and model providers live in their own app (`vault:`); the settings layout
links to them.
"""

from django.urls import path

from config import converters  # noqa: F401 - registers <id:...>

from . import views_settings as views

app_name = "settings"

urlpatterns = [
    path("", views.settings_home, name="home"),
    path("<id:workspace_id>/", views.settings_workspace, name="workspace"),
    path("<id:workspace_id>/members/", views.members, name="members"),
    path("<id:workspace_id>/members/invite/", views.member_invite, name="member_invite"),
    path(
        "<id:workspace_id>/members/<id:membership_id>/role/",
        views.member_role,
        name="member_role",
    ),
    path(
        "<id:workspace_id>/members/<id:membership_id>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path("<id:workspace_id>/tokens/", views.tokens, name="tokens"),
    path("<id:workspace_id>/tokens/create/", views.token_create, name="token_create"),
    path("<id:workspace_id>/tokens/<id:token_id>/revoke/", views.token_revoke, name="token_revoke"),
    path("<id:workspace_id>/defaults/", views.defaults, name="defaults"),
    path("<id:workspace_id>/audit/", views.audit, name="audit"),
]
