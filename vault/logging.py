"""Keep credential values out of log lines, whichever logger or handler writes them.

Every value decrypted for a call is remembered here (a bounded, most-recent set), and a log
record factory replaces them in each record's message, and in its traceback text, as the record
is made: before any handler, formatter or test capture sees it.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections import OrderedDict

from runs.engine.secrets import Redactor

MAX_REMEMBERED = 1024

_lock = threading.Lock()
_values: OrderedDict[str, str] = OrderedDict()
_redactor: Redactor | None = None
_installed = False


def remember(name: str, value: str) -> None:
    """Note a value just decrypted, so log records made from now on cannot carry it."""
    global _redactor
    with _lock:
        if _values.get(value) == name:
            _values.move_to_end(value)
            return
        _values[value] = name
        while len(_values) > MAX_REMEMBERED:
            _values.popitem(last=False)
        _redactor = Redactor({f"{n}": v for v, n in _values.items()})


def _redact(redactor: Redactor, record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a record whose arguments don't fit its format: leave it to logging
        return
    cleaned = redactor.text(message)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    if record.exc_info and not record.exc_text:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        record.exc_text = redactor.text(text)


def install() -> None:
    """Wrap the current log record factory (once per process)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redactor = _redactor
        if redactor is not None:
            _redact(redactor, record)
        return record

    logging.setLogRecordFactory(factory)
