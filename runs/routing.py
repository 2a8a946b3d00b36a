"""Websocket routes: a run's event stream and a workspace's run/approval changes."""

from django.urls import path

from config import converters  # noqa: F401 - registers <id:...>

from .consumers import RunConsumer, WorkspaceConsumer

websocket_urlpatterns = [
    path("ws/runs/<id:run_id>/", RunConsumer.as_asgi()),
    path("ws/workspace/", WorkspaceConsumer.as_asgi()),
]
