"""Credentials in templates (`{{ secrets.weather_api }}`) and redacting their values by value.

A node type that builds an outbound request (`NodeType.uses_secrets`) sees a `secrets` root. Each
credential is looked up through the run's `SecretLookup` the first time a template reads it, so
a step that reads none costs nothing, and its value is remembered so that everything the step
records can have it replaced by `[secret:<name>]` before it is stored (`redact`).

`Secrets` has no public attribute: the sandbox refuses `_`-names, so a template can read a
credential by name and nothing else (not the list of names, not the values already read).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

SECRET_ROOT = "secrets"
# Shorter values would be replaced wherever they happen to occur in ordinary text.
MIN_SECRET_CHARS = 8

SecretLookup = Callable[[str], str]


class UnknownSecret(Exception):  # not a LookupError: Jinja would take it for "undefined"
    """The run's workspace has no credential of that name (or it cannot be decrypted)."""

    code = "unknown_credential"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Secrets:
    """The `secrets` a template sees: credentials by name, resolved on first use."""

    __slots__ = ("_lookup", "_resolved")

    def __init__(self, lookup: SecretLookup) -> None:
        self._lookup = lookup
        self._resolved: dict[str, str] = {}

    def __getitem__(self, name: Any) -> str:
        if not isinstance(name, str):
            raise UnknownSecret("Credential names are text, like secrets.weather_api.")
        if name not in self._resolved:
            self._resolved[name] = self._lookup(name)
        return self._resolved[name]

    def __iter__(self):
        # Without this, Python would iterate through __getitem__(0), (1)…
        raise TypeError("credentials can only be read by name, like secrets.weather_api")

    def __str__(self) -> str:
        return "[secrets]"

    __repr__ = __str__


def resolved(secrets: Secrets | None) -> dict[str, str]:
    """Return the credentials a step read, name → value."""
    return dict(secrets._resolved) if secrets is not None else {}


def _forms(value: str) -> list[str]:
    """The spellings a value takes in what a step records: as is, JSON-escaped, URL-encoded."""
    forms = {value, json.dumps(value, ensure_ascii=False)[1:-1], quote(value, safe="")}
    return [form for form in forms if len(form) >= MIN_SECRET_CHARS]


class Redactor:
    """Replace every credential value a run resolved with `[secret:<name>]`, wherever it sits."""

    def __init__(self, values: Mapping[str, str]) -> None:
        pairs = [(form, f"[secret:{name}]") for name, v in values.items() for form in _forms(v)]
        # Longest first, so a value containing another is replaced whole.
        self.pairs = sorted(pairs, key=lambda pair: len(pair[0]), reverse=True)

    def __bool__(self) -> bool:
        return bool(self.pairs)

    def text(self, text: str) -> str:
        for value, placeholder in self.pairs:
            if value in text:
                text = text.replace(value, placeholder)
        return text

    def __call__(self, value: Any) -> Any:
        if not self.pairs:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {(self.text(k) if isinstance(k, str) else k): self(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self(item) for item in value]
        return value


def redact(value: Any, values: Mapping[str, str]) -> Any:
    """Return `value` with every credential value in `values` replaced by its placeholder."""
    return Redactor(values)(value) if values else value
