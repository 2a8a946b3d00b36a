from django.urls import path

from config import converters  # noqa: F401 - registers <id:...>

from . import views

app_name = "evals"

urlpatterns = [
    path("evals/", views.dataset_list, name="datasets"),
    path("evals/datasets/<id:dataset_id>/", views.dataset_detail, name="dataset"),
    path("evals/datasets/<id:dataset_id>/upload/", views.dataset_upload_view, name="upload"),
    path(
        "evals/datasets/<id:dataset_id>/uploads/<id:upload_id>/",
        views.dataset_upload_report,
        name="upload_report",
    ),
    path("evals/datasets/<id:dataset_id>/grow/", views.dataset_grow_view, name="grow"),
    path(
        "evals/datasets/<id:dataset_id>/evaluate/",
        views.evaluation_start_view,
        name="evaluate",
    ),
    path("evals/evaluations/<id:evaluation_id>/", views.evaluation_detail, name="evaluation"),
    path(
        "evals/evaluations/<id:evaluation_id>/progress/",
        views.evaluation_progress,
        name="progress",
    ),
    path(
        "evals/evaluations/<id:evaluation_id>/cancel/",
        views.evaluation_cancel_view,
        name="cancel",
    ),
    path("evals/compare/", views.evaluation_compare, name="compare"),
]
