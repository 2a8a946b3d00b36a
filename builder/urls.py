from django.urls import path

from config import converters  # noqa: F401 - registers <id:...>

from . import views

app_name = "builder"

urlpatterns = [
    path("", views.flow_list, name="flow_list"),
    path("flows/<id:flow_id>/", views.flow_editor, name="flow_editor"),
]
