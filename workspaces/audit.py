"""The workspace audit log: every change to members, tokens, credentials, providers and defaults.

Callers pass what changed in `detail` (names, roles, limits): never a secret value. Values whose
key says they are secret are refused, so a slip shows up in tests rather than in the log.
"""

from __future__ import annotations

from typing import Any

from .models import AuditEvent, Workspace

SECRET_KEYS = frozenset({"value", "secret", "token", "raw", "password", "api_key", "key"})


def _check_no_secrets(detail: dict[str, Any]) -> None:
    for key, value in detail.items():
        if key.lower() in SECRET_KEYS:
            raise ValueError(f"audit detail must not carry a secret value (key {key!r})")
        if isinstance(value, dict):
            _check_no_secrets(value)


def record_audit(
    *,
    workspace: Workspace,
    actor,
    action: str,
    target: str = "",
    detail: dict | None = None,
) -> AuditEvent:
    """Record one change to `workspace` made by `actor` (None for the system)."""
    detail = dict(detail or {})
    _check_no_secrets(detail)
    return AuditEvent.objects.create(
        workspace=workspace,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        target=target[:200],
        detail=detail,
    )
