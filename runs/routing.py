"""Websocket routes: a run's event stream and a workspace's run/approval changes."""

from django.urls import path

from .consumers import RunConsumer, WorkspaceConsumer

websocket_urlpatterns = [
    path("ws/runs/<int:run_id>/", RunConsumer.as_asgi()),
    path("ws/workspace/", WorkspaceConsumer.as_asgi()),
]
