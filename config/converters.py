"""URL converters of the pages: `<id:run_id>` matches only ids the database can hold.

Django's `<int:...>` takes any run of digits, and an id past 2**63-1 crashes the lookup (SQLite
and PostgreSQL's bigint stop there). A path with such an id simply does not match: 404.
"""

from django.urls import register_converter

from .schemas import MAX_DB_ID


class DbIdConverter:
    """A positive database id, 1..2**63-1 (at most 19 digits; larger values do not match)."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 0 < number <= MAX_DB_ID:
            raise ValueError(value)  # Django reads it as "no match" and goes on: 404
        return number

    def to_url(self, value: int) -> str:
        return str(int(value))


register_converter(DbIdConverter, "id")
