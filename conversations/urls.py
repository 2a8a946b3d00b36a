from django.urls import path

from config import converters  # noqa: F401 - registers <id:...>

from . import views

app_name = "conversations"

urlpatterns = [
    path("flows/<id:flow_id>/chat/", views.chat, name="chat"),
    path("flows/<id:flow_id>/chat/send/", views.send, name="start"),
    path(
        "flows/<id:flow_id>/chat/<id:conversation_id>/",
        views.conversation,
        name="conversation",
    ),
    path("flows/<id:flow_id>/chat/<id:conversation_id>/send/", views.send, name="send"),
    path(
        "flows/<id:flow_id>/chat/<id:conversation_id>/turns/<id:position>/",
        views.turn,
        name="turn",
    ),
    path("flows/<id:flow_id>/chat/<id:conversation_id>/rename/", views.rename, name="rename"),
    path("flows/<id:flow_id>/chat/<id:conversation_id>/delete/", views.delete, name="delete"),
]
