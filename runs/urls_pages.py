"""Pages of the approvals inbox, the run history and the run comparison."""

from django.urls import path

from config import converters  # noqa: F401 - registers <id:...>

from .views import compare, history, inbox

app_name = "runs_pages"

urlpatterns = [
    path("approvals/", inbox.inbox, name="inbox"),
    path("approvals/badge/", inbox.approvals_badge, name="approvals_badge"),
    path("approvals/<id:approval_id>/", inbox.approval_detail, name="approval_detail"),
    path("approvals/<id:approval_id>/decide/", inbox.approval_decide_view, name="approval_decide"),
    path(
        "approvals/<id:approval_id>/fallback/",
        inbox.approval_fallback_view,
        name="approval_fallback",
    ),
    path("runs/", history.run_history, name="history"),
    path("runs/<id:left_id>/compare/<id:right_id>/", compare.run_compare, name="compare"),
]
