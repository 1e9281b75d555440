"""The REST API under /api/v1/. Each app contributes its routes here."""

from django.urls import path  # noqa: F401

app_name = "api"

urlpatterns: list = []
