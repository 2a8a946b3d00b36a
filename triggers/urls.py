from django.urls import path

from config import converters  # noqa: F401 - registers <id:...>

from . import views

app_name = "triggers"

urlpatterns = [
    path("hooks/<str:public_id>/", views.hook, name="hook"),
    path("flows/<id:flow_id>/triggers/", views.flow_triggers, name="flow_triggers"),
]
