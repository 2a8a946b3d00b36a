"""Small graph builders for engine tests."""

from __future__ import annotations

from typing import Any

INPUT_SCHEMA = {"type": "object", "properties": {"question": {"type": "string"}}}


def node(node_id: str, type_: str, **config: Any) -> dict:
    if type_ == "input":
        config.setdefault("schema", INPUT_SCHEMA)
    return {"id": node_id, "type": type_, "label": node_id, "config": config}


def edge(source: str, target: str, port: str = "out", target_port: str = "in") -> dict:
    return {
        "id": f"{source}.{port}->{target}",
        "source": source,
        "source_port": port,
        "target": target,
        "target_port": target_port,
    }


def graph(nodes: list[dict], edges: list[dict]) -> dict:
    return {"schema_version": 1, "nodes": nodes, "edges": edges}


def prompt(node_id: str, text: str = "Answer {{ inputs.question }}", **config: Any) -> dict:
    return node(node_id, "prompt", prompt=text, **config)
