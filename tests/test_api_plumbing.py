"""What every API call shares: unknown paths and oversized bodies answer JSON in the one error
shape, whatever the method, never one of Django's HTML pages."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from catalog.models import Product
from tests.conftest import api_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def backend() -> Client:
    """A shop back-end: token auth, no CSRF cookie, and CSRF checks on as in production."""
    return Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Token {api_token()}")


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_a_write_to_an_unknown_api_path_is_a_json_404_not_a_csrf_page(backend, method):
    # A trailing slash is the usual slip: /api/v1/events is the endpoint.
    response = getattr(backend, method)(
        "/api/v1/events/", data=json.dumps({"events": []}), content_type="application/json"
    )

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["errors"][0]["code"] == "not_found"


def test_a_full_batch_with_long_descriptions_is_read_past_djangos_default_body_cap(backend):
    rows = [
        {"sku": f"LONG-{n}", "title": "t", "price": "1.00", "description": "x" * 3_000}
        for n in range(1_000)
    ]
    body = json.dumps({"products": rows})
    assert len(body) > 2.5 * 1024 * 1024  # Django's default DATA_UPLOAD_MAX_MEMORY_SIZE

    response = backend.post("/api/v1/products/bulk", body, content_type="application/json")

    assert response.status_code == 200, response.content[:300]
    assert Product.objects.count() == 1_000


def test_a_body_over_the_cap_is_a_json_413_and_stores_nothing(backend, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    rows = [{"sku": f"S{n}", "title": "t", "price": "1.00"} for n in range(50)]

    response = backend.post(
        "/api/v1/products/bulk", json.dumps({"products": rows}), content_type="application/json"
    )

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    error = response.json()["errors"][0]
    assert error["code"] == "too_large" and "1,000 bytes" in error["detail"]
    assert not Product.objects.exists()
