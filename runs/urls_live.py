"""The live run page: `/runs/<id>/`, reversed as `runs:detail`."""

from django.urls import path

from runs.views import live

app_name = "runs"

urlpatterns = [
    path("runs/<int:run_id>/", live.run_detail, name="detail"),
]
