"""ASGI entry point: HTTP through Django, websockets through Channels.

In embedded mode (no Redis) the web process also executes runs; serving starts its sweeper,
which first takes back the runs a previous process left running.
"""

import logging
import os
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import django
from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse

from . import webserver  # noqa: F401  (daphne's requests leave the body to Django)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)


class SyncChainASGIHandler(ASGIHandler):
    """Django's ASGI handler with the middleware chain built synchronously, as under WSGI.

    Django builds an ASGI chain in the mode of each middleware: WhiteNoise is sync-only, so
    everything outside it ran in a thread while everything inside it (sessions, CSRF, auth,
    messages, django-htmx, axes) ran on the event loop, each `MiddlewareMixin` hopping to a
    thread and back for its request and response hooks, and the (sync) view hopping once more.
    That was about a dozen thread hand-offs per request, a large part of a run start's CPU.
    Here the whole chain and the view run in one call on the request's thread: the project has
    no async views, and websockets do not go through this chain.

    The call runs on a thread of a pool kept for the process (`SWITCHBOARD_WEB_THREADS`), not
    on the thread `thread_sensitive` would give it: Django opens a new thread-sensitive context
    per request, so that was a new thread per request, each with new database connection and
    cache objects (and so every per-connection cache, such as config.prepared's, started cold).
    A pooled thread keeps its connection objects; its database connections are handed back at
    the end of each request (a PostgreSQL one to the pool; a SQLite one stays open, as the
    embedded executor's do), on the thread that used them.

    What Django still runs thread-sensitively around the chain (the `request_started` receivers,
    `response.close()` and its `request_finished` receivers) runs on one thread kept for the
    process, not on a thread made for the request: Django opens a `ThreadSensitiveContext` per
    request, and asgiref starts a thread for each context on its first such call and joins it at
    the end. Those receivers close the database connections of the thread they run on, which
    is never the one that served the request; `_respond` closes that thread's.
    """

    def __init__(self) -> None:
        super(ASGIHandler, self).__init__()
        self.load_middleware(is_async=False)
        self._threads = ThreadPoolExecutor(
            max_workers=settings.SWITCHBOARD_WEB_THREADS, thread_name_prefix="web"
        )
        self._signals_context = ThreadSensitiveContext()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        token = SyncToAsync.thread_sensitive_context.set(self._signals_context)
        try:
            await self.handle(scope, receive, send)
        finally:
            SyncToAsync.thread_sensitive_context.reset(token)

    def _respond(self, request: HttpRequest) -> HttpResponse:
        close_old_connections()
        try:
            response = self.get_response(request)
            if response.streaming and not response.is_async:
                # Django would consume a synchronous iterator whole, with one thread-sensitive
                # call: on the kept thread, where a long export (its queries included) would
                # hold every other request's signals. It is consumed here instead, on this
                # request's thread and before its connections are handed back.
                response.streaming_content = _replayed(list(response.streaming_content))
            return response
        finally:
            close_old_connections()

    async def get_response_async(self, request: HttpRequest) -> HttpResponse:
        return await sync_to_async(self._respond, thread_sensitive=False, executor=self._threads)(
            request
        )


async def _replayed(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


django_asgi_app = SyncChainASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from runs.consumers import TokenAuthMiddleware, origin_checked  # noqa: E402
from runs.routing import websocket_urlpatterns  # noqa: E402

logger = logging.getLogger(__name__)

# Origin checked against ALLOWED_HOSTS (a handshake without one needs a token), then the session
# user, replaced by a token's user when the handshake carries one.
websocket_application = origin_checked(
    AuthMiddlewareStack(TokenAuthMiddleware(URLRouter(websocket_urlpatterns)))
)

application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket_application})


def start_embedded_executor() -> bool:
    """Start the embedded executor's sweeper (with start-up recovery) when this process serves.

    Not under pytest (tests drive executors themselves), and not when SWITCHBOARD_SWEEPER=off.
    """
    if settings.SWITCHBOARD_EXECUTOR != "embedded":
        return False
    if "pytest" in sys.modules or os.environ.get("SWITCHBOARD_SWEEPER", "").lower() == "off":
        return False
    from runs.executor import EmbeddedExecutor, executor

    running = executor()
    if not isinstance(running, EmbeddedExecutor):
        return False
    running.start_sweeper(recover_now=True)
    logger.info("Embedded executor serving: sweeper started (%s)", running.owner)
    return True


start_embedded_executor()
