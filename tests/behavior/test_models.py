import pytest
from django.db import IntegrityError, transaction

from behavior.models import Event
from tests.factories import EventFactory, ShopperFactory

pytestmark = pytest.mark.django_db


def test_the_database_rejects_a_rating_outside_one_to_five():
    shopper = ShopperFactory()

    with pytest.raises(IntegrityError, match="event_rating_in_range"), transaction.atomic():
        EventFactory(shopper=shopper, kind="rating", value=6)

    assert Event.objects.count() == 0


def test_the_database_rejects_an_unknown_event_kind():
    with pytest.raises(IntegrityError, match="event_kind_known"), transaction.atomic():
        EventFactory(kind="teleport")


def test_the_database_rejects_a_negative_points_balance():
    with pytest.raises(IntegrityError), transaction.atomic():
        ShopperFactory(points_balance=-5)


def test_a_resent_event_id_is_refused_by_the_unique_constraint():
    first = EventFactory(event_id="shop-1")

    with pytest.raises(IntegrityError), transaction.atomic():
        EventFactory(event_id="shop-1", shopper=first.shopper, product=first.product)

    assert Event.objects.filter(event_id="shop-1").count() == 1
