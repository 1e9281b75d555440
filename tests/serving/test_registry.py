"""The slot registry is the one place a slot is declared: the API, the dashboard, the demo check
and the docs read it, and a slot registered there is served with no other edit."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from demo import selectors as demo_selectors
from demo.selectors import slot_problems
from recommender.serving import registry, stages
from recommender.serving.reasons import Reason
from recommender.serving.registry import shopper_page_slots, slot_names
from recommender.serving.service import recommend
from recommender.serving.slots import Pick, Slot, SlotContext

pytestmark = pytest.mark.django_db

README = Path(__file__).resolve().parents[2] / "README.md"
FIRST = Reason("first_in_catalog", "among the first products listed")


def _first_listed(ctx: SlotContext, mask: np.ndarray, n: int) -> Iterator[Pick]:
    """A trivial stage: the eligible products in catalog order."""
    for row in np.flatnonzero(mask)[:n].tolist():
        yield Pick(row, 1.0, "test:first", FIRST)


@pytest.fixture
def first_listed():
    slot = registry.register(
        Slot(
            name="first_listed", title="First listed", mask=stages.unbought, stages=(_first_listed,)
        )
    )
    yield slot
    registry.unregister(slot.name)


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


def _asked_by_the_demo_check(monkeypatch) -> set[str]:
    asked: set[str] = set()

    def recording(**kwargs):
        asked.add(kwargs["slot"])
        return recommend(**kwargs)

    monkeypatch.setattr(demo_selectors, "recommend", recording)
    slot_problems(now=timezone.now())
    return asked


def test_every_registered_slot_is_served_by_the_api_and_no_other(api, shop):
    for name in slot_names():
        response = api.get("/api/v1/shoppers/s-1/recommendations", {"slot": name, "k": 3})

        assert response.status_code == 200, response.content
        assert response.json()["slot"] == name

    unknown = api.get("/api/v1/shoppers/s-1/recommendations", {"slot": "bestsellers"})

    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["attr"] == "slot"


def test_the_schema_offers_exactly_the_registered_slots():
    schema = SchemaGenerator().get_schema(request=None, public=True)

    operation = schema["paths"]["/api/v1/shoppers/{external_id}/recommendations"]["get"]
    slot = next(p for p in operation["parameters"] if p["name"] == "slot")
    assert slot["schema"]["enum"] == list(slot_names())


def test_the_shopper_page_places_the_slots_the_registry_puts_on_it(staff_client, shop):
    page = staff_client.get("/shoppers/s-1/").content.decode()

    for slot in shopper_page_slots():
        assert f'id="slot-{slot.name}"' in page and slot.title in page
    assert 'id="slot-new_arrivals"' not in page  # declared for the cold-start page only


def test_the_demo_check_asks_every_registered_slot(monkeypatch, shop):
    assert _asked_by_the_demo_check(monkeypatch) == set(slot_names())


def test_the_readme_asks_for_every_registered_slot():
    loop = re.search(r"^for slot in ([\w ]+); do$", README.read_text(), re.MULTILINE)

    assert loop is not None and tuple(loop.group(1).split()) == slot_names()


def test_a_slot_added_to_the_registry_is_served_everywhere_without_other_edits(
    first_listed, api, shop, staff_client, monkeypatch
):
    served = recommend(shopper="s-1", slot="first_listed", k=3, now=timezone.now())

    assert len(served.items) == 3
    assert {(i.source, i.reason) for i in served.items} == {("test:first", FIRST)}
    body = api.get("/api/v1/shoppers/s-1/recommendations", {"slot": "first_listed", "k": 3})
    assert body.status_code == 200, body.content
    assert [r["product"]["sku"] for r in body.json()["results"]] == [
        i.product.sku for i in served.items
    ]
    page = staff_client.get("/shoppers/s-1/").content.decode()
    assert 'id="slot-first_listed"' in page and "First listed" in page
    assert "first_listed" in _asked_by_the_demo_check(monkeypatch)


def test_a_slot_is_declared_once_and_only_for_a_context_serving_can_build():
    with pytest.raises(ValueError, match="already registered"):
        registry.register(registry.get_slot("for_you"))
    cart = Slot(
        name="with_your_cart",
        title="With your cart",
        mask=stages.unbought,
        stages=(_first_listed,),
        context=frozenset({"shopper", "cart"}),
    )

    with pytest.raises(ValueError, match="cart"):
        registry.register(cart)
    assert "with_your_cart" not in slot_names()
