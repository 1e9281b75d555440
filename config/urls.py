"""Top-level URL map: dashboard at the root, the REST API under /api/v1/, admin, auth, docs."""

from django.contrib import admin
from django.urls import include, path, re_path

from config.api import api_not_found
from config.api_docs import schema_view, swagger_view
from config.health import HealthView

urlpatterns = [
    path("admin/", admin.site.urls),
    # Readiness for load balancers; details for staff or SHELFWISE_HEALTH_TOKEN (config.health).
    path("health/", HealthView.as_view(), name="health"),
    path("api/v1/", include("config.api_urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/schema/", schema_view, name="api-schema"),
    path("api/docs/", swagger_view, name="api-docs"),
    # Last: any other path under /api/ answers a JSON 404, never Django's HTML page.
    re_path(r"^api/", api_not_found),
    # The merchandiser dashboard: overview at the root, shoppers, products, promotions, models.
    path("", include("dashboard.urls")),
]
