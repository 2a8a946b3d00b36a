from django.urls import path

from config import converters  # noqa: F401 - registers <id:...>

from . import views

app_name = "costs"

urlpatterns = [
    path("costs/", views.cost_page, name="page"),
    path("costs/export.csv", views.cost_export, name="export"),
    path("costs/budgets/", views.budget_save_view, name="budget_save"),
    path("costs/budgets/<id:budget_id>/delete/", views.budget_delete_view, name="budget_delete"),
]
