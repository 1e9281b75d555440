"""Product tags through the API, the admin's CSV resource and the model: stored in lower case,
each once; a bad list refused with the field named and nothing stored."""

from __future__ import annotations

import pytest
import tablib
from django.core.exceptions import ValidationError

from catalog.models import Product
from catalog.resources import ProductResource
from tests.conftest import api_client
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def test_the_api_stores_tags_normalised_and_returns_them():
    client = api_client()

    response = client.put(
        "/api/v1/products/MUG-1",
        {"title": "Mug", "price": "5.00", "tags": [" Summer", "gift idea", "summer"]},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["tags"] == ["summer", "gift idea"]
    assert Product.objects.get(sku="MUG-1").tags == ["summer", "gift idea"]


@pytest.mark.parametrize("tags", [["a,b"], [""], ["x" * 41], [f"t{n}" for n in range(21)], "x"])
def test_bad_tags_are_a_400_naming_the_field_and_store_nothing(tags):
    response = api_client().put(
        "/api/v1/products/MUG-2", {"title": "Mug", "price": "5.00", "tags": tags}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"].startswith("tags")
    assert not Product.objects.filter(sku="MUG-2").exists()


def test_the_csv_resource_exports_tags_comma_separated_and_imports_them_back():
    ProductFactory(sku="A", tags=["summer", "gift idea"])

    exported = ProductResource().export()
    assert exported.dict[0]["tags"] == "summer,gift idea"
    dataset = tablib.Dataset(headers=exported.headers)
    dataset.append([*exported[0][:-1], " Outdoor, SALE "])
    result = ProductResource().import_data(dataset, dry_run=False)

    assert not result.has_errors() and not result.has_validation_errors()
    assert Product.objects.get(sku="A").tags == ["outdoor", "sale"]


def test_the_model_refuses_more_tags_than_allowed():
    product = ProductFactory.build(sku="B", tags=[f"t{n}" for n in range(21)])

    with pytest.raises(ValidationError) as refused:
        product.full_clean()

    assert "tags" in refused.value.message_dict
