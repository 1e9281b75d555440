from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from behavior.admin import EstimatedCountPaginator, EventBrowseQuerySet, events_url
from behavior.models import Event, EventKind
from tests.factories import CategoryFactory, EventFactory, ProductFactory, ShopperFactory

pytestmark = pytest.mark.django_db

START = datetime(2011, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def merchandiser(staff_user):
    """Staff with every behavior permission Django defines, including change and delete."""
    staff_user.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=["behavior", "catalog"])
    )
    return staff_user


@pytest.fixture
def client(client, merchandiser):
    client.force_login(merchandiser)
    return client


def many_events(count: int, **fields) -> list[Event]:
    shoppers = ShopperFactory.create_batch(3)
    products = ProductFactory.create_batch(4)
    return [
        EventFactory(
            shopper=shoppers[i % 3],
            product=products[i % 4],
            occurred_at=START + timedelta(hours=i),
            **fields,
        )
        for i in range(count)
    ]


# --- Shopper --------------------------------------------------------------------------------------
def test_the_shopper_list_links_each_shopper_to_their_events(client):
    shopper = ShopperFactory(external_id="C-17850", points_balance=1200)

    response = client.get(reverse("admin:behavior_shopper_changelist"))

    html = response.content.decode()
    assert response.status_code == 200
    assert "C-17850" in html and "1200" in html
    assert events_url(shopper=shopper.pk) in html


def test_searching_shoppers_finds_them_by_external_id(client):
    wanted = ShopperFactory(external_id="C-17850")
    ShopperFactory(external_id="C-99999")

    response = client.get(reverse("admin:behavior_shopper_changelist"), {"q": "17850"})

    assert list(response.context["cl"].result_list) == [wanted]


def test_shoppers_filter_by_country_and_points(client):
    wanted = ShopperFactory(country="DE", points_balance=50)
    ShopperFactory(country="DE", points_balance=0)
    ShopperFactory(country="FR", points_balance=50)

    response = client.get(
        reverse("admin:behavior_shopper_changelist"), {"country": "DE", "points": "some"}
    )

    assert list(response.context["cl"].result_list) == [wanted]


def test_the_shopper_form_picks_interests_through_autocomplete(client):
    shopper = ShopperFactory()
    shopper.interests.add(CategoryFactory(name="Candles"))

    response = client.get(reverse("admin:behavior_shopper_change", args=[shopper.pk]))

    html = response.content.decode()
    assert 'data-field-name="interests"' in html and "admin-autocomplete" in html
    assert "Browse events" in html


# --- Event browsing -------------------------------------------------------------------------------
def test_the_event_list_renders_many_events_with_a_bounded_number_of_queries(
    client, django_assert_max_num_queries
):
    many_events(150)

    with django_assert_max_num_queries(10):
        response = client.get(reverse("admin:behavior_event_changelist"))

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 100


def test_the_event_list_queries_do_not_grow_with_the_number_of_events(client):
    url = reverse("admin:behavior_event_changelist")
    many_events(2)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    many_events(120)

    with CaptureQueriesContext(connection) as many:
        client.get(url)

    assert len(many) == len(few)


def test_the_link_from_a_shopper_shows_only_that_shoppers_events(client):
    shopper = ShopperFactory(external_id="C-12345")
    theirs = EventFactory.create_batch(2, shopper=shopper)
    EventFactory.create_batch(3)

    response = client.get(events_url(shopper=shopper.pk))

    assert set(response.context["cl"].result_list) == set(theirs)
    assert "C-12345" in response.content.decode()  # the filter sidebar names the shopper


def test_searching_events_matches_an_exact_shopper_id_sku_or_order_id(client):
    shopper = ShopperFactory(external_id="C-1")
    product = ProductFactory(sku="85123A")
    by_shopper = EventFactory(shopper=shopper)
    by_product = EventFactory(product=product)
    by_order = EventFactory(order_id="536365", kind=EventKind.PURCHASE)
    EventFactory(order_id="536366")
    url = reverse("admin:behavior_event_changelist")

    found = {
        term: set(client.get(url, {"q": term}).context["cl"].result_list)
        for term in ("C-1", "85123A", "536365", "C-")
    }

    assert found == {
        "C-1": {by_shopper},
        "85123A": {by_product},
        "536365": {by_order},
        "C-": set(),
    }


def test_events_filter_by_kind_and_drill_down_by_date(client):
    purchase = EventFactory(kind=EventKind.PURCHASE, occurred_at=START)
    EventFactory(kind=EventKind.VIEW, occurred_at=START)
    EventFactory(kind=EventKind.PURCHASE, occurred_at=START + timedelta(days=40))

    response = client.get(
        reverse("admin:behavior_event_changelist"),
        {"kind": "purchase", "occurred_at__year": "2011", "occurred_at__month": "3"},
    )

    assert list(response.context["cl"].result_list) == [purchase]


# --- Events are immutable -------------------------------------------------------------------------
def test_events_cannot_be_added_even_by_a_superuser(admin_client):
    response = admin_client.get(reverse("admin:behavior_event_add"))

    assert response.status_code == 403


def test_an_event_opens_read_only_and_a_post_changes_nothing(admin_client):
    event = EventFactory(value=1.0, order_id="A1")
    url = reverse("admin:behavior_event_change", args=[event.pk])

    page = admin_client.get(url)
    post = admin_client.post(url, {"value": "99", "order_id": "forged", "kind": "purchase"})

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert post.status_code == 403
    event.refresh_from_db()
    assert (event.value, event.order_id) == (1.0, "A1")


def test_events_cannot_be_deleted_one_by_one_or_in_bulk(admin_client):
    event = EventFactory()

    single = admin_client.post(
        reverse("admin:behavior_event_delete", args=[event.pk]), {"post": "yes"}
    )
    bulk = admin_client.post(
        reverse("admin:behavior_event_changelist"),
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    listing = admin_client.get(reverse("admin:behavior_event_changelist"))

    assert single.status_code == 403
    assert Event.objects.filter(pk=event.pk).exists()
    assert bulk.status_code in (200, 302)
    assert "delete_selected" not in listing.content.decode()
    assert reverse("admin:behavior_event_add") not in listing.content.decode()


def test_the_event_list_answers_a_staff_user_with_change_permissions_read_only(client):
    EventFactory()

    response = client.get(reverse("admin:behavior_event_changelist"))

    assert response.status_code == 200
    assert response.context["has_add_permission"] is False
    assert "action-checkbox" not in response.content.decode()


# --- Paginator ------------------------------------------------------------------------------------
def test_the_paginator_uses_the_table_estimate_only_for_a_large_unfiltered_table():
    many_events(5)
    with connection.cursor() as cursor:
        # Pretend ANALYZE saw a big table: the estimate is what pg_class says, not COUNT(*).
        cursor.execute(
            "UPDATE pg_class SET reltuples = 2000000 WHERE oid = 'behavior_event'::regclass"
        )

    unfiltered = EstimatedCountPaginator(Event.objects.all(), 100).count
    filtered = EstimatedCountPaginator(Event.objects.filter(kind=EventKind.VIEW), 100).count

    assert unfiltered == 2_000_000
    assert filtered == 5


def test_the_paginator_counts_exactly_when_the_table_is_small():
    many_events(5)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE behavior_event")

    assert EstimatedCountPaginator(Event.objects.all(), 100).count == 5


# --- Date drill-down ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["year", "month", "day"])
def test_the_date_drill_down_lists_the_same_periods_as_a_distinct_over_every_row(kind):
    for moment in (
        datetime(2009, 12, 31, 23, 59, tzinfo=UTC),
        datetime(2011, 1, 1, 0, 0, tzinfo=UTC),
        datetime(2011, 1, 30, 12, 0, tzinfo=UTC),
        datetime(2011, 3, 2, 8, 0, tzinfo=UTC),
        datetime(2011, 12, 31, 23, 59, 59, tzinfo=UTC),
    ):
        EventFactory(occurred_at=moment)
    browse = EventBrowseQuerySet(model=Event)

    probed = list(browse.datetimes("occurred_at", kind))

    assert probed == list(Event.objects.datetimes("occurred_at", kind))
    assert (kind != "year") or [d.year for d in probed] == [2009, 2011]


def test_the_date_drill_down_respects_the_other_filters():
    EventFactory(kind=EventKind.VIEW, occurred_at=datetime(2011, 1, 5, tzinfo=UTC))
    EventFactory(kind=EventKind.PURCHASE, occurred_at=datetime(2011, 4, 5, tzinfo=UTC))
    purchases = EventBrowseQuerySet(model=Event).filter(kind=EventKind.PURCHASE)

    months = list(purchases.datetimes("occurred_at", "month"))

    assert months == [datetime(2011, 4, 1, tzinfo=UTC)]


def test_the_date_drill_down_of_no_events_is_empty():
    assert list(EventBrowseQuerySet(model=Event).datetimes("occurred_at", "year")) == []


def test_the_event_list_drills_down_from_years_to_months(client):
    EventFactory(occurred_at=datetime(2010, 12, 5, tzinfo=UTC))
    EventFactory(occurred_at=datetime(2011, 2, 5, tzinfo=UTC))
    url = reverse("admin:behavior_event_changelist")

    top = client.get(url).content.decode()
    year = client.get(url, {"occurred_at__year": "2011"}).content.decode()

    assert "occurred_at__year=2010" in top and "occurred_at__year=2011" in top
    assert "occurred_at__month=2" in year and "occurred_at__month=12" not in year
