from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from .api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="auth/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("vault.urls")),
    path("settings/", include("workspaces.urls_settings")),
    path("", include("runs.urls_live")),
    path("", include("runs.urls_pages")),
    path("", include("knowledge.urls")),
    path("", include("costs.urls")),
    path("", include("evals.urls")),
    path("", include("conversations.urls")),
    path("", include("builder.urls")),
    path("", include("triggers.urls")),
    path("", include("notifications.urls")),
]

handler500 = "config.middleware.server_error"
