"""What daphne's requests skip of Twisted's request handling: parsing the body of a form POST.

Twisted's `Request.requestReceived` parses the body of every POST into `request.args` when it
has a form content type: the Content-Type header through the `email` package first (about
150 µs for `application/json`, which every API call sends), then a multipart body whole (about
90 ms and a second copy of the body for a 5 MB dataset upload). That runs on the reactor
thread, where every other request and websocket waits for it, and a multipart body it cannot
parse is answered with Twisted's bare 400 page before the application sees it. Daphne never
reads `args`: it hands the raw body to the ASGI application, where Django parses it once, on a
worker thread, within its own upload limits.

Twisted's switch for this (`parsePOSTFormSubmission`) is an argument of `Request.__init__`
that daphne does not pass, so the attribute it sets is pinned off on daphne's request class.
"""

from __future__ import annotations

from daphne.http_protocol import WebRequest


def _not_parsed(request: WebRequest) -> bool:
    return False


def _ignored(request: WebRequest, value: bool) -> None:
    pass


WebRequest._parsePOSTFormSubmission = property(_not_parsed, _ignored)  # type: ignore[assignment]
