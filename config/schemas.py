"""Base classes for request bodies: unknown fields are refused and only storable JSON gets in."""

from typing import Annotated, Any

from ninja import Schema
from ninja.schema import DjangoGetter
from pydantic import ConfigDict, StringConstraints, model_validator

from builder.graph import json_problem

# Deeper than any real request; keeps hostile nesting away from recursive code further on.
MAX_BODY_DEPTH = 64

# A name shown in lists: surrounding whitespace dropped, never empty.
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class CleanIn(Schema):
    """Input that the database can store as given (PostgreSQL refuses NUL and lone surrogates)."""

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        raw = data._obj if isinstance(data, DjangoGetter) else data
        problem = json_problem(raw, max_depth=MAX_BODY_DEPTH)
        if problem:
            raise ValueError(problem)
        return data


class StrictIn(CleanIn):
    """A request body: unknown fields are refused, never silently dropped, and JSON types are
    taken as they are ("1" is not a number, 1 is not text)."""

    model_config = ConfigDict(extra="forbid", strict=True)
