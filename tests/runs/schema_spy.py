"""Watch the schema checker start a regex search, so a test can act while it is still running."""

from __future__ import annotations

import threading

from runs.engine import schemas


def watch_pattern_search(monkeypatch, pattern: str) -> threading.Event:
    """Return an event set as soon as a schema check starts searching with `pattern`."""
    searching = threading.Event()
    compiled = schemas._compiled

    class Spy:
        def __init__(self, source):
            self.pattern = compiled(source)

        def search(self, text, timeout):
            if self.pattern.pattern == pattern:
                searching.set()
            return self.pattern.search(text, timeout=timeout)

    monkeypatch.setattr(schemas, "_compiled", Spy)
    return searching
