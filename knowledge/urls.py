from django.urls import path

from config import converters  # noqa: F401 - registers <id:...>

from . import views

app_name = "knowledge"

urlpatterns = [
    path("knowledge/", views.kb_list, name="kb_list"),
    path("knowledge/<id:kb_id>/", views.kb_detail, name="kb_detail"),
    path("knowledge/<id:kb_id>/documents/", views.kb_documents, name="kb_documents"),
    path("knowledge/<id:kb_id>/add/", views.kb_add, name="kb_add"),
    path("knowledge/<id:kb_id>/try/", views.kb_try, name="kb_try"),
    path("knowledge/documents/<id:document_id>/", views.document_detail, name="document"),
    path(
        "knowledge/documents/<id:document_id>/<str:action>/",
        views.document_action,
        name="document_action",
    ),
]
