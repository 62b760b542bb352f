from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from chat import views as chat_views
from chat.urls import api_urlpatterns as chat_api
from chat.urls import page_urlpatterns as chat_pages
from dashboard.urls import api_urlpatterns as dashboard_api
from dashboard.urls import page_urlpatterns as dashboard_pages
from games.urls import api_urlpatterns as games_api
from games.urls import page_urlpatterns as games_pages
from realtime.metrics import metrics
from realtime.urls import api_urlpatterns as realtime_api
from realtime.views import healthz

handler404 = "realtime.views.page_not_found"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", chat_views.signup, name="signup"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("api/auth/token/", login_not_required(TokenObtainPairView.as_view()), name="token"),
    path(
        "api/auth/token/refresh/",
        login_not_required(TokenRefreshView.as_view()),
        name="token-refresh",
    ),
    path("api/schema/", login_not_required(SpectacularAPIView.as_view()), name="schema"),
    path("api/", include(chat_api)),
    path("api/", include(realtime_api)),
    path("api/", include(dashboard_api)),
    path("api/", include(games_api)),
    path("", include(dashboard_pages)),
    path("", include(games_pages)),
    path("", include(chat_pages)),
]
