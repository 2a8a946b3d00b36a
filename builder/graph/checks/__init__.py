"""The checks a parsed graph goes through, each adding errors with a stable code.

`graph` holds the checker and the structural checks, `references` what templates and data
paths read, `shapes` the output shapes those reads are checked against.
"""

from .graph import GraphChecker, config_errors

__all__ = ["GraphChecker", "config_errors"]
