"""URL map: the admin, the REST API with its OpenAPI schema, the web UI, and /healthz."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.health import healthz

urlpatterns = [
    re_path(r"^healthz/?$", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("crm.api.urls")),
    path("", include("crm.web.urls")),
    path("", include("sentiment.urls")),
    path("", include("churnmodel.urls")),
    path("", include("interventions.urls")),
]
