"""The learned model router's labels, training and use (the engine's `learned_routing` does the
maths; this package reads the workspace's records and keeps the fitted arrays):
`labels` (what the records say), `training` (fitting and storing), `refit` (the sweeper's job),
`loading` (deciding with the stored router).
"""

from .labels import ESCALATED, MAX_LABELS, Label, router_labels
from .loading import RECHECK_SECONDS, _loaded, active_router, forget_router, route_scores
from .refit import REFIT_CHECK_SECONDS, REFIT_EVERY, refit_due_routers
from .training import MIN_LABELS, embedding_model, min_labels, new_labels_since, router_train

__all__ = [
    "ESCALATED",
    "MAX_LABELS",
    "MIN_LABELS",
    "RECHECK_SECONDS",
    "REFIT_CHECK_SECONDS",
    "REFIT_EVERY",
    "Label",
    "_loaded",
    "active_router",
    "embedding_model",
    "forget_router",
    "min_labels",
    "new_labels_since",
    "refit_due_routers",
    "route_scores",
    "router_labels",
    "router_train",
]
