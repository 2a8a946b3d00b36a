"""Websocket routes. The run stream arrives with the background-execution work."""

websocket_urlpatterns: list = []
