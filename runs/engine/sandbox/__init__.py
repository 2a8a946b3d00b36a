"""The Jinja sandbox templates render in, bounded in time and size *while* they render.

Jinja's sandbox keeps templates away from Python internals; this one also keeps them from
spending the process. A thread can't be killed, so every bound is checked inside the render,
from hooks the compiled template already goes through:

- a deadline (and the caller's `stop_when`) is checked at every call, attribute or item lookup,
  filter, loop iteration and output, so a spinning template stops at its deadline;
- loop iterations are counted across the whole render (nested `range` loops stop);
- anything that would build a big value is measured *before* it is built: `**` and `*` on
  numbers (by bit length), `*`, `+`, `%` and `~` on text and lists, `str.format`, the filters and
  string methods that grow their input (center, indent, join, replace, …); every value a filter
  or call returns and all output are measured too, macros and `{% set %}` blocks included.

Loops, outputs, slices and `~` are reached by rewriting the template's syntax tree before it is
compiled (`environment._Bounding`); Jinja compiles filters it can evaluate early into constants,
so every filter here takes the context, which keeps it at render time, under the budget.
"""

from .budget import (
    MAX_BUILT_CHARS,
    MAX_EMITTED_CHARS,
    MAX_INT_BITS,
    MAX_LOOP_ITERATIONS,
    MAX_VALUE_CHARS,
    RENDER_SECONDS,
    RenderBudget,
    rendering,
)
from .environment import BoundedSandbox

__all__ = [
    "MAX_BUILT_CHARS",
    "MAX_EMITTED_CHARS",
    "MAX_INT_BITS",
    "MAX_LOOP_ITERATIONS",
    "MAX_VALUE_CHARS",
    "RENDER_SECONDS",
    "BoundedSandbox",
    "RenderBudget",
    "rendering",
]
