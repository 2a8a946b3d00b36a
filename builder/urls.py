from django.urls import path

from . import views

app_name = "builder"

urlpatterns = [
    path("", views.flow_list, name="flow_list"),
    path("flows/<int:flow_id>/", views.flow_editor, name="flow_editor"),
]
