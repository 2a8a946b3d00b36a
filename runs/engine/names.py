"""Readable names for nodes: the key a node is stored with, or one derived from its label.

Keys are what templates may use (`nodes.shopping_list.output`, docs/node-keys.md); the same
names label what a node shows people, such as the values an approval shows, so those never
expose generated ids like `prompt_3`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

MAX_KEY = 64


def derive_key(label: str, taken: Iterable[str] = ()) -> str:
    """Return a key for a label ("Shopping list" → shopping_list) that is not in `taken`."""
    text = unicodedata.normalize("NFKD", label or "").encode("ascii", "ignore").decode()
    key = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "node"
    if key[0].isdigit():
        key = f"n_{key}"
    key = key[:MAX_KEY].rstrip("_")
    used = set(taken)
    if key not in used:
        return key
    for n in range(2, len(used) + 3):
        suffix = f"_{n}"
        candidate = key[: MAX_KEY - len(suffix)] + suffix
        if candidate not in used:
            return candidate
    raise AssertionError("unreachable: more candidates than names taken")


def readable_names(nodes: Iterable[tuple[str, str, str]]) -> dict[str, str]:
    """Return each node's readable name from (id, key, label): its key, else from its label."""
    listed = list(nodes)
    taken = {node_id for node_id, _, _ in listed} | {key for _, key, _ in listed if key}
    names: dict[str, str] = {}
    for node_id, key, label in listed:
        if key:
            names[node_id] = key
        elif label:
            names[node_id] = derive_key(label, taken - {node_id})
            taken.add(names[node_id])
        else:
            names[node_id] = node_id
    return names
