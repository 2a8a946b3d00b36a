"""Pages of the approvals inbox, the run history and the run comparison."""

from django.urls import path

from .views import compare, history, inbox

app_name = "runs_pages"

urlpatterns = [
    path("approvals/", inbox.inbox, name="inbox"),
    path("approvals/badge/", inbox.approvals_badge, name="approvals_badge"),
    path("approvals/<int:approval_id>/", inbox.approval_detail, name="approval_detail"),
    path("approvals/<int:approval_id>/decide/", inbox.approval_decide_view, name="approval_decide"),
    path(
        "approvals/<int:approval_id>/fallback/",
        inbox.approval_fallback_view,
        name="approval_fallback",
    ),
    path("runs/", history.run_history, name="history"),
    path("runs/<int:left_id>/compare/<int:right_id>/", compare.run_compare, name="compare"),
]
