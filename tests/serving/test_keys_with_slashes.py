"""SKUs and shopper ids are the shop's own keys: one holding "/" works in every route."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from behavior.models import Event, EventKind, Shopper
from catalog.models import Product

SKU = "TEE/XL"
SHOPPER = "shop/42"


@pytest.fixture
def slashed(trained_shop) -> dict:
    """A product and a shopper whose keys hold "/", the shopper with history in one group."""
    mug = trained_shop["products"][0]
    tee = Product.objects.create(
        sku=SKU, title="Tee extra large", price=mug.price, category=mug.category
    )
    shopper = Shopper.objects.create(external_id=SHOPPER, country="DE")
    Event.objects.bulk_create(
        Event(
            event_id=f"slash-{n}",
            shopper=shopper,
            product=product,
            kind=EventKind.VIEW,
            occurred_at=mug.created_at,
        )
        for n, product in enumerate([*trained_shop["products"][:3], tee])
    )
    return {**trained_shop, "tee": tee, "shopper": shopper}


@pytest.mark.django_db
def test_dashboard_pages_open_and_link_keys_with_a_slash(client, staff_user, slashed):
    staff_user.user_permissions.add(Permission.objects.get(codename="add_event"))  # simulates
    client.force_login(staff_user)

    product_page = client.get(reverse("product-detail", args=[SKU]))
    shopper_page = client.get(reverse("shopper-detail", args=[SHOPPER]))
    listing = client.get("/products/", {"q": "TEE"})
    simulated = client.post(
        reverse("shopper-simulate", args=[SHOPPER]), {"kind": "view", "sku": SKU}
    )

    assert reverse("product-detail", args=[SKU]) == "/products/TEE/XL/"
    assert product_page.status_code == 200 and product_page.context["product"].sku == SKU
    assert shopper_page.status_code == 200 and shopper_page.context["shopper"] == slashed["shopper"]
    assert listing.status_code == 200 and 'href="/products/TEE/XL/"' in listing.content.decode()
    assert simulated.status_code == 200
    assert Event.objects.filter(shopper=slashed["shopper"], product=slashed["tee"]).count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/products/TEE/XL", "/api/v1/products/TEE%2FXL"])
def test_the_api_reads_a_product_whose_sku_holds_a_slash(api, slashed, path):
    response = api.get(path)

    assert response.status_code == 200, response.content
    assert response.json()["sku"] == SKU


@pytest.mark.django_db
def test_suffix_routes_win_over_a_key_with_a_slash(api, slashed):
    similar = api.get("/api/v1/products/TEE/XL/similar")
    recommendations = api.get("/api/v1/shoppers/shop/42/recommendations")

    assert similar.status_code == 200, similar.content
    assert similar.json()["product"] == SKU
    assert recommendations.status_code == 200, recommendations.content
    assert recommendations.json()["shopper"]["external_id"] == SHOPPER
    assert recommendations.json()["results"]


@pytest.mark.django_db
def test_the_api_upserts_a_shopper_whose_id_holds_a_slash(api, slashed):
    response = api.put("/api/v1/shoppers/shop/42", {"country": "FR"}, format="json")

    assert response.status_code == 200, response.content
    assert Shopper.objects.get(external_id=SHOPPER).country == "FR"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/shoppers/%00/"), ("get", "/products/%00/"), ("post", "/shoppers/a%00b/simulate/")],
)
def test_a_dashboard_key_holding_nul_is_a_404(client, staff_user, method, path):
    staff_user.user_permissions.add(Permission.objects.get(codename="add_event"))  # simulates
    client.force_login(staff_user)

    assert getattr(client, method)(path).status_code == 404
