"""Dashboard pages speak the merchandiser's language: no engineers' tokens in the visible text,
versions counted per algorithm, metrics only in the metrics menu, separators and plurals."""

from __future__ import annotations

from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from behavior.models import Event, EventKind
from recommender.models import ModelVersion
from tests.dashboard.conftest import train
from tests.factories import ProductFactory

RAW_TOKENS = ("@v", "trending:", "purchase_history", "co_occurrence", "cached", "item_knn")
PAGES = ("/", "/shoppers/s-4/", "/products/MUG-1/", "/models/", "/cold-start/", "/promotions/")


class _VisibleText(HTMLParser):
    """Text a reader sees: no tags, attributes (a title= on hover is fine), scripts or styles."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._hidden += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible_text(response) -> str:
    parser = _VisibleText()
    parser.feed(response.content.decode())
    return " ".join(" ".join(parser.parts).split())


@pytest.mark.parametrize("path", PAGES)
def test_no_page_shows_model_sources_or_cache_badges_in_its_text(staff_client, shop, path):
    staff_client.get(path)  # a second view is served from the response cache

    text = visible_text(staff_client.get(path))

    assert [token for token in RAW_TOKENS if token in text] == []


def test_a_shoppers_lists_name_what_produced_each_item_in_words_with_the_code_on_hover(
    staff_client, shop
):
    response = staff_client.get("/shoppers/s-4/")

    text = visible_text(response)
    assert "Item-kNN model" in text and "Bought before" in text
    assert 'title="item_knn@v' in response.content.decode()


def test_versions_are_numbered_within_their_algorithm(trainer_client, shop):
    train("item_knn")
    second = ModelVersion.objects.filter(algorithm="item_knn").order_by("id").last()
    assert second.pk > 2  # ids are shared by every algorithm; the page must not show them

    text = visible_text(trainer_client.get("/models/"))
    confirm = visible_text(trainer_client.get(reverse("version-promote", args=[second.pk])))

    assert "Item-kNN version 2" in text and "Item-kNN version 1" in text
    assert f"v{second.pk}" not in text
    assert "Promote Item-kNN version 2?" in confirm


def test_the_metrics_menu_lists_metrics_only(staff_client, shop):
    response = staff_client.get("/models/")

    choices = response.context["metric_choices"]
    assert "ndcg@10" in choices and "coverage" in choices
    assert not {"n_users", "champion_version", "champion_ndcg@10"} & set(choices)


def test_counts_agree_with_their_noun_and_numbers_have_thousands_separators(staff_client, shop):
    product = shop["products"][0]
    product.price = Decimal("1234.50")
    product.stock = 12345
    product.save()
    shopper = shop["shoppers"][0]
    cart = {"shopper": shopper, "product": product, "kind": EventKind.ADD_TO_CART}
    Event.objects.create(event_id="cart-1", occurred_at=product.created_at, **cart)

    one = visible_text(staff_client.get(f"/products/{product.sku}/"))
    Event.objects.create(event_id="cart-2", occurred_at=product.created_at, **cart)
    two = visible_text(staff_client.get(f"/products/{product.sku}/"))
    listing = visible_text(staff_client.get("/products/", {"q": product.sku}))

    assert "· 1 cart" in one and "1 carts" not in one
    assert "· 2 carts" in two
    assert "1,234.50 GBP" in one and "12,345" in listing


def test_the_funnel_and_models_tables_never_wrap(staff_client, shop):
    css = (Path(settings.BASE_DIR) / "static/css/shelfwise.css").read_text()

    models_page = staff_client.get("/models/").content.decode()

    assert ".funnel td" in css and "table.nowrap-table td { white-space: nowrap; }" in css.replace(
        ", table.nowrap-table th", ""
    ).replace(".funnel th, .funnel td, ", "")
    assert models_page.count("nowrap-table") >= 3


def test_the_admin_filters_products_by_status_in_words(admin_client):
    ProductFactory(sku="ON-1", is_active=True)
    ProductFactory(sku="OFF-1", is_active=False)

    page = admin_client.get(reverse("admin:catalog_product_changelist"))
    inactive = admin_client.get(reverse("admin:catalog_product_changelist"), {"active": "no"})

    text = visible_text(page)
    assert "By status" in text and "Inactive" in text and "By is active" not in text
    assert [p.sku for p in inactive.context["cl"].result_list] == ["OFF-1"]
