"""Credentials: stored encrypted, listed by name, decrypted only for a call being made."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

from config.domain import Conflict, Invalid, NotFound
from runs.engine.secrets import MIN_SECRET_CHARS, UnknownSecret

from .. import crypto
from ..logging import remember
from ..models import CREDENTIAL_NAME_PATTERN, Credential
from .access import audit, require_member

logger = logging.getLogger(__name__)

MAX_VALUE_CHARS = 8192
# A credential's last use is recorded at most this often (a write per call would make every
# tool call a writer).
USE_PRECISION = timedelta(seconds=60)

_CREDENTIAL_NAME = re.compile(CREDENTIAL_NAME_PATTERN)


def _clean_value(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid("The value must be text.", code="invalid_value")
    value = value.strip()
    if len(value) < MIN_SECRET_CHARS:
        raise Invalid(
            f"The value must be at least {MIN_SECRET_CHARS} characters: shorter values cannot be "
            "told apart from ordinary text when they are hidden from run records.",
            code="invalid_value",
        )
    if len(value) > MAX_VALUE_CHARS:
        raise Invalid(f"The value is longer than {MAX_VALUE_CHARS} characters.", code="too_large")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise Invalid("The value contains line breaks or control characters.", code="invalid_value")
    return value


def _clean_name(name: Any) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not _CREDENTIAL_NAME.match(name):
        raise Invalid(
            "A credential name starts with a lowercase letter and has only lowercase letters, "
            "digits and underscores (at most 64), like weather_api.",
            code="invalid_name",
        )
    return name


def _description(text: Any) -> str:
    text = text.strip() if isinstance(text, str) else ""
    if len(text) > 300:
        raise Invalid("The description is longer than 300 characters.", code="too_large")
    return text


def credential_list(*, user, workspace_id: int) -> list[Credential]:
    """Every member sees the names (never the values)."""
    require_member(user=user, workspace_id=workspace_id, write=False)
    return list(Credential.objects.filter(workspace_id=workspace_id).defer("encrypted_value"))


def credential_get(*, user, workspace_id: int, credential_id: int) -> Credential:
    require_member(user=user, workspace_id=workspace_id, write=False)
    credential = Credential.objects.filter(pk=credential_id, workspace_id=workspace_id).first()
    if credential is None:
        raise NotFound("Credential not found")
    return credential


def credential_create(
    *, user, workspace_id: int, name: str, value: str, description: str = ""
) -> Credential:
    require_member(user=user, workspace_id=workspace_id, write=True)
    name, value, description = _clean_name(name), _clean_value(value), _description(description)
    try:
        with transaction.atomic():
            credential = Credential.objects.create(
                workspace_id=workspace_id,
                name=name,
                encrypted_value=crypto.encrypt(value),
                description=description,
                created_by=user,
            )
            audit(workspace_id=workspace_id, actor=user, action="credential.created", target=name)
    except IntegrityError:
        raise Conflict(
            f"There is already a credential called “{name}”. Replace its value instead.",
            code="duplicate_name",
        ) from None
    return credential


def credential_replace(
    *,
    user,
    workspace_id: int,
    credential_id: int,
    value: str | None = None,
    description: str | None = None,
) -> Credential:
    """Replace the value (and/or the description); the old value is gone for good."""
    require_member(user=user, workspace_id=workspace_id, write=True)
    credential = credential_get(user=user, workspace_id=workspace_id, credential_id=credential_id)
    fields = ["updated_at"]
    if value is not None:
        credential.encrypted_value = crypto.encrypt(_clean_value(value))
        fields.append("encrypted_value")
    if description is not None:
        credential.description = _description(description)
        fields.append("description")
    credential.updated_at = timezone.now()
    with transaction.atomic():
        credential.save(update_fields=fields)
        audit(
            workspace_id=workspace_id,
            actor=user,
            action="credential.replaced" if value is not None else "credential.updated",
            target=credential.name,
        )
    return credential


def credential_delete(*, user, workspace_id: int, credential_id: int) -> None:
    credential = credential_get(user=user, workspace_id=workspace_id, credential_id=credential_id)
    require_member(user=user, workspace_id=workspace_id, write=True)
    users = list(credential.providers.values_list("name", flat=True))
    if users:
        raise Conflict(
            f"The model provider “{users[0]}” uses this credential as its key; change or delete "
            "the provider first.",
            code="credential_in_use",
        )
    with transaction.atomic():
        credential.delete()
        audit(
            workspace_id=workspace_id,
            actor=user,
            action="credential.deleted",
            target=credential.name,
        )


def credential_names(workspace_id: int) -> frozenset[str]:
    return frozenset(
        Credential.objects.filter(workspace_id=workspace_id).values_list("name", flat=True)
    )


def record_use(credential_id: int, last_used_at) -> None:
    """Note that the credential was used now (at most once a minute; conditional, so of
    concurrent first uses one writes). Best effort: a busy database never fails the call."""
    now = timezone.now()
    stale = now - USE_PRECISION
    if last_used_at is not None and last_used_at >= stale:
        return
    try:
        Credential.objects.filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale), pk=credential_id
        ).update(last_used_at=now)
    except OperationalError:
        logger.info("Could not record the use of credential %s now", credential_id)


def credential_value(*, workspace_id: int, name: str) -> str:
    """Decrypt a credential for a call being made now. Raises UnknownSecret."""
    row = (
        Credential.objects.filter(workspace_id=workspace_id, name=name)
        .values_list("pk", "encrypted_value", "last_used_at")
        .first()
    )
    if row is None:
        raise UnknownSecret(
            f"There is no credential called “{name[:64]}” in this workspace (Settings → "
            "Credentials)."
        )
    try:
        value = crypto.decrypt(row[1])
    except crypto.EncryptionKeyError as exc:
        raise UnknownSecret(f"The credential “{name}” cannot be read: {exc}") from None
    remember(name, value)
    record_use(row[0], row[2])
    return value


def credential_values(workspace_id: int) -> dict[str, str]:
    """Every credential's value, to redact them from an export. Unreadable ones are skipped."""
    values = {}
    for name, token in Credential.objects.filter(workspace_id=workspace_id).values_list(
        "name", "encrypted_value"
    ):
        try:
            values[name] = crypto.decrypt(token)
        except crypto.EncryptionKeyError:
            continue
    return values


def credentials_rotate() -> int:
    """Re-encrypt every credential with the first configured key; return how many.

    All or nothing: one value no listed key can read stops the rotation before anything changes.
    """
    with transaction.atomic():
        rows = list(Credential.objects.select_for_update().values_list("pk", "encrypted_value"))
        rotated = [(pk, crypto.reencrypt(token)) for pk, token in rows]
        for pk, token in rotated:
            Credential.objects.filter(pk=pk).update(encrypted_value=token)
    return len(rotated)
