"""The dataset page's forms: what they start with, what a refused one sent (kept for the page
its POST redirects to, once), and reading their fields."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, QueryDict

GROW_RUNS_DEFAULT = 20
START_FORM = {
    "flow": "",
    "version": "draft",
    "scorer": "",
    "text": "",
    "pattern": "",
    "tolerance": "0",
    "schema": "",
    "rubric": "",
    "threshold": "0.7",
    "flow_evaluators": "",
    "concurrency": "4",
}
GROW_FORM = {"source": "approvals", "flow": "", "limit": str(GROW_RUNS_DEFAULT)}
FORMS = {"start": START_FORM, "grow": GROW_FORM}
# The longest value a field keeps (the length the views read); any other field keeps 40.
FIELD_CHARS = {"schema": 20_000, "rubric": 5_000, "text": 1_000, "pattern": 1_000}


def _session_key(name: str, dataset_id: int) -> str:
    return f"evals:{name}-form:{dataset_id}"


def form_keep(request: HttpRequest, name: str, dataset_id: int) -> None:
    """Keep what the refused form `name` sent, for the dataset page the POST redirects to."""
    request.session[_session_key(name, dataset_id)] = {
        key: str(request.POST.get(key, ""))[: FIELD_CHARS.get(key, 40)] for key in FORMS[name]
    }


def form_kept(request: HttpRequest, name: str, dataset_id: int) -> dict[str, str]:
    """The form `name` as a refused POST sent it (once: a reload shows it afresh), else as new."""
    kept = request.session.pop(_session_key(name, dataset_id), None)
    return {**FORMS[name], **kept} if isinstance(kept, dict) else FORMS[name]


def grow_limit(raw: str | None) -> int:
    """How many latest runs the grow form asks for: its default when empty, 0 when the field
    is not a whole number (the service refuses a limit out of bounds, and says so)."""
    raw = (raw or "").strip() or str(GROW_RUNS_DEFAULT)
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 7 else 0


def scorers_from(post: QueryDict) -> list[dict[str, Any]]:
    """The scorers the evaluation form asks for (checked by evaluation_start, not here)."""
    kind = post.get("scorer", "")
    scorers: list[dict[str, Any]] = []
    if kind == "regex":
        scorers.append({"type": "regex", "pattern": post.get("pattern", "")[:1000]})
    elif kind == "contains":
        scorers.append({"type": "contains", "text": post.get("text", "")[:1000]})
    elif kind == "numeric":
        scorers.append({"type": "numeric", "tolerance": post.get("tolerance") or 0})
    elif kind == "json_schema":
        raw = post.get("schema", "")[:20_000]
        try:
            schema = json.loads(raw) if raw.strip() else None
        except json.JSONDecodeError:
            schema = "not JSON"
        scorers.append({"type": "json_schema", "schema": schema})
    elif kind == "judge":
        scorers.append(
            {
                "type": "judge",
                "rubric": post.get("rubric", "")[:5000],
                "threshold": post.get("threshold") or 0.7,
            }
        )
    elif kind:
        scorers.append({"type": kind})
    if post.get("flow_evaluators"):
        scorers.append({"type": "flow_evaluators"})
    return scorers
