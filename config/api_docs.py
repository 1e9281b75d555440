"""The OpenAPI schema and its Swagger UI: signed-in users only unless SHELFWISE_API_DOCS_PUBLIC.

Swagger UI is served by drf-spectacular's split view, which loads its start-up code as a script
file instead of an inline ``<script>``, so the page works under the Content-Security-Policy.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class DocsAccess(BasePermission):
    """Signed in (session or token), or docs made public by the setting."""

    message = "The API schema needs a login (or SHELFWISE_API_DOCS_PUBLIC=true)."

    def has_permission(self, request: Request, view: Any) -> bool:
        if settings.SHELFWISE_API_DOCS_PUBLIC:
            return True
        return bool(request.user and request.user.is_authenticated)


schema_view = SpectacularAPIView.as_view(permission_classes=[DocsAccess])
_swagger_view = SpectacularSwaggerSplitView.as_view(
    url_name="api-schema",
    permission_classes=[DocsAccess],
    # Its stylesheet as a file: the package's template has an inline <style> block.
    template_name="api/swagger_ui.html",
)


def swagger_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Swagger UI; an anonymous browser is sent to log in first (a page, not a JSON 403)."""
    if not settings.SHELFWISE_API_DOCS_PUBLIC and not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    return _swagger_view(request, *args, **kwargs)
