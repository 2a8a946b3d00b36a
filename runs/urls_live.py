"""The live run page: `/runs/<id>/`, reversed as `runs:detail`."""

from django.urls import path

from config import converters  # noqa: F401 - registers <id:...>
from runs.views import live

app_name = "runs"

urlpatterns = [
    path("runs/<id:run_id>/", live.run_detail, name="detail"),
]
