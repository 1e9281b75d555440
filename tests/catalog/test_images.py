"""Product pictures: an optional image URL through the API, the CSV import and the demo, shown
on every product card with an offline placeholder when there is none."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command

from catalog.models import Product
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

PLACEHOLDER = "/static/img/product-placeholder.svg"


def test_the_api_stores_and_returns_an_image_url(admin_client):
    response = admin_client.put(
        "/api/v1/products/MUG-1",
        {"title": "Mug", "price": "4.50", "image_url": "https://shop.example/mug.jpg"},
        content_type="application/json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["image_url"] == "https://shop.example/mug.jpg"
    assert Product.objects.get(sku="MUG-1").image_url == "https://shop.example/mug.jpg"


@pytest.mark.parametrize("bad", ["javascript:alert(1)", "data:image/png;base64,AAAA", "//cdn.x/a"])
def test_an_image_url_that_is_not_http_or_a_site_path_is_a_400_naming_the_field(admin_client, bad):
    response = admin_client.put(
        "/api/v1/products/MUG-1",
        {"title": "Mug", "price": "4.50", "image_url": bad},
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "image_url"
    assert not Product.objects.filter(sku="MUG-1").exists()


def test_the_csv_import_reads_an_image_url_column(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(
        "sku,title,price,image_url\nMUG-1,Mug,4.50,/static/img/demo/home-kitchen.svg\n"
        "LAMP-1,Lamp,9.00,\n"
    )

    call_command("import_products", str(path), "--no-progress", stdout=StringIO())

    stored = dict(Product.objects.values_list("sku", "image_url"))
    assert stored == {"MUG-1": "/static/img/demo/home-kitchen.svg", "LAMP-1": ""}


def test_the_product_list_shows_each_picture_and_the_placeholder_when_there_is_none(
    admin_client,
):
    ProductFactory(sku="A-1", image_url="https://shop.example/a.jpg")
    ProductFactory(sku="B-1", image_url="")

    page = admin_client.get("/products/").content.decode()

    sources = re.findall(r'<img class="thumb[^"]*" src="([^"]+)"', page)
    assert sorted(sources) == sorted(["https://shop.example/a.jpg", PLACEHOLDER])
    assert finders.find("img/product-placeholder.svg")


def test_the_demo_gives_every_product_a_picture_served_from_static():
    options = ["--no-serve", "--no-train", "--force", "--scale", "0.05"]
    call_command("demo", *options, "--now", "2024-06-01T12:00:00+00:00", stdout=StringIO())

    urls = set(Product.objects.values_list("image_url", flat=True))
    assert urls and all(url.startswith("/static/img/demo/") for url in urls)
    assert all(finders.find(url.removeprefix("/static/")) for url in urls)
