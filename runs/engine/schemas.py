"""The JSON Schemas people write (run inputs, output schemas, evaluator rules), compiled safely.

Every schema the app validates with is compiled here:

- Draft 2020-12, with an empty `referencing` registry whose retrieval refuses everything: a
  `$ref` may point inside the schema (`#/$defs/...`, an embedded `$id`), never at a URL or a file.
- `pattern` and `patternProperties` search with the `regex` package under the same timeout as
  regex rules; the `regex` format (used when checking a schema) compiles with `regex` too.
- The schema's size is bounded, and one validation has a deadline checked at every keyword.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any
from urllib.parse import urldefrag, urljoin

import regex
from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import SchemaError, ValidationError
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable

from .limits import REGEX_TIMEOUT_SECONDS, Deadline, EvaluationLimit

MAX_SCHEMA_BYTES = 128 * 1024
MAX_PATTERN_CHARS = 500
VALIDATION_SECONDS = 2.0
# Keywords whose values are data, not subschemas: a "$ref" key inside them is not a reference.
_DATA_KEYWORDS = frozenset({"const", "default", "enum", "examples"})


class SchemaInvalid(ValueError):
    """A schema that can't be used; the message says why, for the person who wrote it."""


class RemoteRef(SchemaInvalid):
    """A `$ref` that points outside the schema (a URL, a file, another document)."""


class SchemaCheckFailed(Exception):
    """A document could not be checked against a schema (time out, unusable `$ref`)."""


# The deadline of the validation running in this thread (validators are copied as they descend,
# so it can't live on the validator).
_deadline: ContextVar[Deadline | None] = ContextVar("switchboard_schema_deadline", default=None)


def _refuse_retrieval(uri: str) -> Resource[Any]:
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


# Nothing is ever fetched: references resolve only inside the schema being validated.
REGISTRY: Registry[Any] = Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]


def _compiled(pattern: str) -> Any:
    if len(pattern) > MAX_PATTERN_CHARS:
        raise SchemaInvalid(f"a pattern may be at most {MAX_PATTERN_CHARS} characters")
    try:
        return regex.compile(pattern)
    except (regex.error, RecursionError, OverflowError) as exc:
        raise SchemaInvalid(f"invalid pattern {pattern!r}: {exc}") from exc


def _search(validator: Any, pattern: str, text: str) -> bool:
    deadline = _deadline.get()
    timeout = REGEX_TIMEOUT_SECONDS
    if deadline is not None:
        deadline.check()
        timeout = max(0.001, min(timeout, deadline.remaining()))
    try:
        return _compiled(pattern).search(text, timeout=timeout) is not None
    except TimeoutError:
        shown = pattern if len(pattern) <= 60 else pattern[:59] + "…"
        raise EvaluationLimit(
            f"the pattern {shown!r} took more than {timeout:.3g} s to check and was stopped"
        ) from None
    except SchemaInvalid as exc:
        raise EvaluationLimit(str(exc)) from None


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _search(validator, pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, pattern_properties: dict[str, Any], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in pattern_properties.items():
        for key, value in instance.items():
            if _search(validator, pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _hashable(value: Any) -> Any:
    """A key equal for JSON-equal values (1 == 1.0, but true != 1), for uniqueItems."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    if isinstance(value, dict):
        return ("object", frozenset((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return ("array", tuple(_hashable(v) for v in value))
    return (type(value).__name__, value)


def _unique_items(
    validator: Any, unique: bool, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    # jsonschema compares unhashable items pairwise (quadratic); a set of keys is linear.
    if unique and validator.is_type(instance, "array"):
        keys = [_hashable(item) for item in instance]
        if len(set(keys)) != len(keys):
            yield ValidationError("the list has items that are not unique")


def _on_deadline(keyword: Callable[..., Any]) -> Callable[..., Any]:
    """Check the validation's deadline each time a keyword is applied."""

    def bounded(validator: Any, *args: Any) -> Any:
        deadline = _deadline.get()
        if deadline is not None:
            deadline.check()
        return keyword(validator, *args)

    return bounded


def _keywords() -> dict[str, Callable[..., Any]]:
    keywords = dict(Draft202012Validator.VALIDATORS)
    keywords["pattern"] = _pattern
    keywords["patternProperties"] = _pattern_properties
    keywords["uniqueItems"] = _unique_items
    return {name: _on_deadline(keyword) for name, keyword in keywords.items()}


BoundedValidator = validators.extend(Draft202012Validator, _keywords())

# When a schema is checked, its `pattern`s must compile with the engine that will run them.
FORMATS = FormatChecker(formats=())
FORMATS.checkers = dict(Draft202012Validator.FORMAT_CHECKER.checkers)


@FORMATS.checks("regex", raises=SchemaInvalid)
def _is_regex(value: object) -> bool:
    if isinstance(value, str):
        _compiled(value)
    return True


def _outside_refs(schema: Any) -> Iterator[str]:
    """Yield each `$ref` / `$dynamicRef` that does not resolve to a part of `schema` itself."""
    ids: set[str] = {""}
    refs: list[tuple[str, str]] = []
    stack: list[tuple[Any, str]] = [(schema, "")]
    while stack:
        node, base = stack.pop()
        if isinstance(node, list):
            stack.extend((item, base) for item in node)
            continue
        if not isinstance(node, dict):
            continue
        own_id = node.get("$id")
        if isinstance(own_id, str):
            base = urldefrag(urljoin(base, own_id))[0]
            ids.add(base)
        for keyword in ("$ref", "$dynamicRef"):
            ref = node.get(keyword)
            if isinstance(ref, str):
                refs.append((ref, base))
        stack.extend((value, base) for key, value in node.items() if key not in _DATA_KEYWORDS)
    for ref, base in refs:
        if urldefrag(urljoin(base, ref))[0] not in ids:
            yield ref


def check_schema(schema: Any) -> dict[str, Any]:
    """Return the schema if the app can validate with it; raise SchemaInvalid otherwise.

    RemoteRef (a SchemaInvalid) says the schema refers to something outside itself.
    """
    if not isinstance(schema, dict):
        raise SchemaInvalid("a JSON schema must be an object")
    try:
        text = json.dumps(schema, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise SchemaInvalid("a JSON schema must be plain JSON data") from exc
    if len(text) > MAX_SCHEMA_BYTES:
        raise SchemaInvalid(f"a JSON schema may be at most {MAX_SCHEMA_BYTES // 1024} KB")
    # The same schemas are checked at every step: remember the ones that passed, by digest.
    digest = hashlib.blake2b(text.encode(), digest_size=16).digest()
    if digest not in _passed:
        _check_text(text)
        with _passed_lock:
            _passed[digest] = None
            if len(_passed) > MAX_REMEMBERED:
                del _passed[next(iter(_passed))]
    return schema


MAX_REMEMBERED = 1024
_passed: dict[bytes, None] = {}
_passed_lock = threading.Lock()


def _check_text(text: str) -> None:
    schema = json.loads(text)
    try:
        Draft202012Validator.check_schema(schema, format_checker=FORMATS)
        outside = next(_outside_refs(schema), None)
    except SchemaError as exc:
        if isinstance(exc.cause, SchemaInvalid):  # a pattern `regex` can't use, and why
            raise SchemaInvalid(str(exc.cause)) from exc
        raise SchemaInvalid(f"not a valid JSON schema: {exc.message}") from exc
    except RecursionError as exc:
        raise SchemaInvalid("the JSON schema is nested too deeply") from exc
    if outside is not None:
        shown = outside if len(outside) <= 100 else outside[:99] + "…"
        raise RemoteRef(
            f'"$ref": "{shown}" points outside the schema; only references inside it '
            '(such as "#/$defs/name") are allowed, nothing is fetched'
        )


def validation_errors(schema: dict[str, Any], instance: Any) -> list[ValidationError]:
    """Validate `instance`; return its errors sorted by where they are in the document.

    Raise SchemaCheckFailed when the check itself can't finish: a `$ref` to outside the schema,
    a pattern over its time, the whole validation over VALIDATION_SECONDS, a schema too large.
    """
    try:
        check_schema(schema)
    except SchemaInvalid as exc:
        raise SchemaCheckFailed(f"the schema can't be used: {exc}") from exc
    validator = BoundedValidator(schema, registry=REGISTRY)
    token = _deadline.set(Deadline(VALIDATION_SECONDS, "the JSON schema check"))
    try:
        errors = list(validator.iter_errors(instance))
    except EvaluationLimit as exc:
        raise SchemaCheckFailed(str(exc)) from exc
    except Unresolvable as exc:
        raise SchemaCheckFailed(
            f"the schema refers to {exc.ref!r}, outside itself; nothing is fetched"
        ) from exc
    except RecursionError as exc:
        raise SchemaCheckFailed("the schema refers to itself without end") from exc
    finally:
        _deadline.reset(token)
    return sorted(errors, key=lambda error: [str(part) for part in error.absolute_path])
