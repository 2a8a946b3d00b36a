from django.urls import path

from . import views

app_name = "evals"

urlpatterns = [
    path("evals/", views.dataset_list, name="datasets"),
    path("evals/datasets/<int:dataset_id>/", views.dataset_detail, name="dataset"),
    path("evals/datasets/<int:dataset_id>/upload/", views.dataset_upload_view, name="upload"),
    path("evals/datasets/<int:dataset_id>/grow/", views.dataset_grow_view, name="grow"),
    path(
        "evals/datasets/<int:dataset_id>/evaluate/",
        views.evaluation_start_view,
        name="evaluate",
    ),
    path("evals/evaluations/<int:evaluation_id>/", views.evaluation_detail, name="evaluation"),
    path(
        "evals/evaluations/<int:evaluation_id>/progress/",
        views.evaluation_progress,
        name="progress",
    ),
    path(
        "evals/evaluations/<int:evaluation_id>/cancel/",
        views.evaluation_cancel_view,
        name="cancel",
    ),
    path("evals/compare/", views.evaluation_compare, name="compare"),
]
