from django.urls import path

from config import converters  # noqa: F401 - registers <id:...>

from . import views

app_name = "notifications"

urlpatterns = [
    path(
        "settings/<id:workspace_id>/notifications/",
        views.notification_settings,
        name="settings",
    ),
]
