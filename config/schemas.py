"""Base classes for request bodies: unknown fields are refused and only storable JSON gets in."""

from typing import Annotated, Any

from ninja import Schema
from ninja.schema import DjangoGetter
from pydantic import ConfigDict, Field, StringConstraints, model_validator

from builder.graph import json_problem

# Deeper than any real request; keeps hostile nesting away from recursive code further on.
MAX_BODY_DEPTH = 64

# The largest id SQLite and PostgreSQL (bigint) can hold; beyond it a lookup would crash.
MAX_DB_ID = 2**63 - 1
# Pages of lists go no further than this: a larger offset is a mistake, not a page.
MAX_OFFSET = 10**9

# A database id (of a flow, run, workspace…) or a version number, in a path, query or body:
# outside 1..2**63-1 it is refused with 422 before anything reaches the database.
Id = Annotated[int, Field(ge=1, le=MAX_DB_ID)]
# An offset into a list, and a cursor (an event seq): 0 means "from the start".
Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET)]
Cursor = Annotated[int, Field(ge=0, le=MAX_DB_ID)]

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
