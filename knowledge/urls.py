from django.urls import path

from . import views

app_name = "knowledge"

urlpatterns = [
    path("knowledge/", views.kb_list, name="kb_list"),
    path("knowledge/<int:kb_id>/", views.kb_detail, name="kb_detail"),
    path("knowledge/<int:kb_id>/documents/", views.kb_documents, name="kb_documents"),
    path("knowledge/<int:kb_id>/add/", views.kb_add, name="kb_add"),
    path("knowledge/<int:kb_id>/try/", views.kb_try, name="kb_try"),
    path("knowledge/documents/<int:document_id>/", views.document_detail, name="document"),
    path(
        "knowledge/documents/<int:document_id>/<str:action>/",
        views.document_action,
        name="document_action",
    ),
]
