"""Compare two runs (typically a run and its re-run): per node output diff, tokens, cost and
latency side by side, reused steps marked, totals with their differences."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from runs import selectors
from runs.models import Run
from runs.services.reruns import runs_compare

from .diffs import OutputDiff, line_diff, output_text
from .params import db_id


def _visible_run(user, run_id: int) -> Run:
    run = (
        selectors.runs_visible_to(user)
        .select_related("flow", "version", "created_by", "parent_run")
        .filter(pk=db_id(run_id))
        .first()
    )
    if run is None:
        raise Http404("Run not found")
    return run


def _delta(left: float | int | None, right: float | int | None) -> float | int | None:
    if left is None or right is None:
        return None
    return right - left


def _metrics(left: dict | None, right: dict | None) -> list[dict[str, Any]]:
    def value(side: dict | None, key: str):
        return None if side is None else side.get(key)

    return [
        {
            "name": name,
            "kind": kind,
            "left": value(left, key),
            "right": value(right, key),
            "delta": _delta(value(left, key), value(right, key)),
        }
        for name, key, kind in (
            ("Tokens", "tokens", "count"),
            ("Cost", "cost", "money"),
            ("Latency", "latency_ms", "duration"),
        )
    ]


def _node_info(left: Run, right: Run) -> dict[str, dict[str, Any]]:
    info: dict[str, dict[str, Any]] = {}
    for side, run in (("left", left), ("right", right)):
        for node in (run.version.graph or {}).get("nodes", []):
            if not isinstance(node, dict) or not isinstance(node.get("id"), str):
                continue
            entry = info.setdefault(
                node["id"], {"label": node.get("label") or node["id"], "type": node.get("type", "")}
            )
            entry[f"{side}_config"] = node.get("config")
    return info


def _changes(
    a: dict | None, b: dict | None, node: dict[str, Any]
) -> tuple[OutputDiff | None, OutputDiff | None]:
    """The node's configuration diff and its rendered-input (prompt) diff, when they differ."""
    config_diff = None
    both = "left_config" in node and "right_config" in node
    if both and node["left_config"] != node["right_config"]:
        config_diff = line_diff(node["left_config"], node["right_config"])
    rendered_diff = None
    if a and b and a.get("rendered") != b.get("rendered") and not b["reused"]:
        rendered_diff = line_diff(a.get("rendered"), b.get("rendered"))
    return config_diff, rendered_diff


def _node_rows(left: Run, right: Run, comparison: dict[str, Any]) -> list[dict[str, Any]]:
    info = _node_info(left, right)
    rows = []
    for node in comparison["nodes"]:
        a, b = node["left"], node["right"]
        changed = not node["same_output"]
        config_diff, rendered_diff = _changes(a, b, info.get(node["node_id"], {}))
        row = {
            "node_id": node["node_id"],
            "label": info.get(node["node_id"], {}).get("label", node["node_id"]),
            "type": info.get(node["node_id"], {}).get("type", ""),
            "left": a,
            "right": b,
            "changed": changed,
            # Edited (its settings or what it was given changed) even if the output came out same.
            "edited": bool(config_diff or rendered_diff),
            "config_diff": config_diff,
            "rendered_diff": rendered_diff,
            "reused": bool(b and b["reused"]),
            "only": "left" if b is None else "right" if a is None else "",
            "metrics": _metrics(a, b),
            "diff": line_diff(a["output"], b["output"]) if changed and a and b else None,
            "output_text": output_text(b["output"] if b else a["output"] if a else None),
        }
        rows.append(row)
    return rows


def _relation(left: Run, right: Run) -> dict[str, Any] | None:
    """How the two runs are related, said from the newer one's side."""
    if right.parent_run_id == left.pk:
        child, parent, swapped = right, left, False
    elif left.parent_run_id == right.pk:
        child, parent, swapped = left, right, True
    else:
        return None
    if child.reproduce:
        kind = "reproduce"
    elif child.from_node:
        kind = "from_step"
    else:
        kind = "rerun"
    return {"kind": kind, "child": child, "parent": parent, "swapped": swapped}


def _totals(comparison: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    left, right = comparison["left"], comparison["right"]
    cost_delta = right["cost"] - left["cost"]
    saved_percent = (
        round(-cost_delta / left["cost"] * 100) if left["cost"] > 0 and cost_delta < 0 else None
    )
    return {
        "left": left,
        "right": right,
        "cost_delta": cost_delta,
        "saved_percent": saved_percent,
        "tokens_delta": right["tokens"] - left["tokens"],
        "duration_delta": _delta(left["duration_ms"], right["duration_ms"]),
        "steps_delta": right["steps"] - left["steps"],
        "reused": sum(1 for row in rows if row["reused"]),
        "changed": sum(1 for row in rows if row["changed"]),
        "edited": sum(1 for row in rows if row["edited"] and not row["changed"]),
        "nodes": len(rows),
        "result_same": left["result"] == right["result"],
    }


def _side_label(run: Run, relation: dict[str, Any] | None) -> str:
    if relation is None:
        return f"Run #{run.pk}"
    if run.pk == relation["parent"].pk:
        return f"Run #{run.pk} (original)"
    kind = "reproduction" if relation["kind"] == "reproduce" else "re-run"
    return f"Run #{run.pk} ({kind})"


@login_required
@require_GET
def run_compare(request: HttpRequest, left_id: int, right_id: int) -> HttpResponse:
    left = _visible_run(request.user, left_id)
    right = _visible_run(request.user, right_id)
    comparison = runs_compare(left=left, right=right)
    rows = _node_rows(left, right, comparison)
    relation = _relation(left, right)
    labels = _node_info(left, right)
    context = {
        "nav": "runs",
        "left": left,
        "right": right,
        "rows": rows,
        "totals": _totals(comparison, rows),
        "relation": relation,
        "all_match": comparison["all_outputs_match"],
        "is_reproduction": bool(relation and relation["kind"] == "reproduce"),
        "finished": left.is_finished and right.is_finished,
        "same_flow": left.flow_id == right.flow_id,
        "left_label": _side_label(left, relation),
        "right_label": _side_label(right, relation),
        "from_label": (
            labels.get(relation["child"].from_node, {}).get("label", relation["child"].from_node)
            if relation
            else ""
        ),
        "watched": [run.pk for run in (left, right) if not run.is_finished],
        "result_text": output_text(right.result),
        "result_diff": (
            None
            if comparison["left"]["result"] == comparison["right"]["result"]
            else line_diff(left.result, right.result)
        ),
    }
    return render(request, "runs/compare.html", context)
