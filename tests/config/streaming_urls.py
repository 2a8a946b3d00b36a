"""A URLconf for tests/config/test_asgi_handler.py: a view that streams from a sync iterator."""

import threading

from django.http import StreamingHttpResponse
from django.urls import path

#: The name of the thread each part was produced on.
produced_on: list[str] = []


def stream(request):
    def parts():
        for n in range(3):
            produced_on.append(threading.current_thread().name)
            yield f"part {n}\n"

    return StreamingHttpResponse(parts(), content_type="text/plain")


urlpatterns = [path("stream", stream)]
