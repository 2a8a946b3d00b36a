from django.urls import path

from . import views

app_name = "triggers"

urlpatterns = [
    path("hooks/<str:public_id>/", views.hook, name="hook"),
    path("flows/<int:flow_id>/triggers/", views.flow_triggers, name="flow_triggers"),
]
