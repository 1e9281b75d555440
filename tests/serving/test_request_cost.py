"""What one recommendations request costs in queries, and token authentication's answers.

Query counts are behaviour here, not timing: the serving layer promises one query for the
shopper (interests joined) and the token lookup, with cards read once per catalog snapshot and
the purchase history once per event version.
"""

from __future__ import annotations

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.db import close_old_connections, connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from recommender.serving.catalog_state import forget_catalog
from recommender.serving.service import recommend

pytestmark = pytest.mark.django_db


def _get(api, shopper: str = "s-0", **params):
    return api.get(f"/api/v1/shoppers/{shopper}/recommendations", params)


def test_a_repeated_request_costs_two_queries_the_token_and_the_shopper(
    api, trained_shop, settings, django_assert_max_num_queries
):
    settings.SHELFWISE_RESPONSE_CACHE_SECONDS = 0  # computed every time
    settings.SHELFWISE_MODEL_CHECK_SECONDS = 60
    settings.SHELFWISE_CATALOG_CHECK_SECONDS = 60
    assert _get(api, k=10).status_code == 200  # loads models and catalog, reads history and cards

    with django_assert_max_num_queries(2):
        second = _get(api, k=10)

    assert second.status_code == 200
    assert second.json()["count"] == 10
    assert second.json()["cached"] is False


def test_cards_are_read_with_the_catalog_snapshot_not_by_responses(
    api, trained_shop, settings, django_assert_max_num_queries
):
    settings.SHELFWISE_RESPONSE_CACHE_SECONDS = 0
    settings.SHELFWISE_CATALOG_CHECK_SECONDS = 60
    forget_catalog()
    assert _get(api, "s-0", k=10).status_code == 200  # builds the snapshot

    with django_assert_max_num_queries(200) as captured:
        for number in range(1, 30):
            assert _get(api, f"s-{number}", k=10).json()["count"] == 10

    card_reads = [q["sql"] for q in captured.captured_queries if '"title"' in q["sql"]]
    assert card_reads == []


def test_a_snapshot_holds_the_cards_of_recommendable_products_only_up_to_its_limit(
    shop, monkeypatch
):
    from catalog.models import Product
    from recommender.serving import catalog_state

    Product.objects.filter(pk=shop["products"][0].pk).update(is_active=False)
    forget_catalog()
    snapshot = catalog_state.current_catalog()
    assert not snapshot.available.all()
    assert set(snapshot.card_memo) == {int(pk) for pk in snapshot.pks[snapshot.available]}

    # A catalogue larger than the memo's limit is not read whole: cards come per response.
    monkeypatch.setattr(catalog_state, "CARDS_KEPT", len(snapshot) - 1)
    forget_catalog()
    assert catalog_state.current_catalog().card_memo == {}


def test_a_shopper_page_reads_the_purchase_history_once_for_all_its_slots(
    trained_shop, settings, django_assert_max_num_queries
):
    settings.SHELFWISE_RESPONSE_CACHE_SECONDS = 0
    settings.SHELFWISE_MODEL_CHECK_SECONDS = 60
    settings.SHELFWISE_CATALOG_CHECK_SECONDS = 60
    shopper = trained_shop["shoppers"][0]
    now = trained_shop["products"][0].created_at
    recommend(shopper=shopper, slot="buy_again", k=5, now=now)

    with django_assert_max_num_queries(20) as captured:
        for slot in ("for_you", "trending", "new_arrivals", "points", "buy_again", "for_you"):
            recommend(shopper=shopper, slot=slot, k=5, now=now)

    sqls = [q["sql"] for q in captured.captured_queries]
    assert [sql for sql in sqls if '"times"' in sql] == []  # the purchase aggregate
    assert len([sql for sql in sqls if "behavior_shopper_interests" in sql]) == 6


def test_an_unknown_token_is_refused_with_401(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)

    response = _get(client, "anyone")

    assert response.status_code == 401


def test_a_token_with_a_nul_character_is_refused_not_a_server_error(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token abc\x00def")

    response = _get(client, "anyone")

    assert response.status_code == 401


def test_the_token_of_a_deactivated_user_is_refused_at_once(api, shop):
    assert _get(api, k=3).status_code == 200
    user = get_user_model().objects.get(username="shop-backend")

    user.is_active = False
    user.save()

    assert _get(api, k=3).status_code == 401


def test_a_deleted_token_is_refused_at_once(api, shop):
    assert _get(api, k=3).status_code == 200

    Token.objects.all().delete()

    assert _get(api, k=3).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_the_token_query_is_the_health_check_and_a_dead_connection_is_replaced(api, monkeypatch):
    # Production settings: persistent connections with health checks.
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 600)
    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", True)
    connection.close()
    assert _between_requests_then_get(api).status_code == 200
    checks = []
    is_usable = connection.is_usable
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(1) or is_usable())
    backend = connection.connection.info.backend_pid

    assert _between_requests_then_get(api).status_code == 200
    assert connection.connection.info.backend_pid == backend  # kept between requests
    assert checks == []  # no SELECT 1 before the token lookup

    with psycopg.connect(_admin_url(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [backend])

    assert _between_requests_then_get(api).status_code == 200
    assert connection.connection.info.backend_pid != backend


def _between_requests_then_get(api):
    # What a server runs at each request's start (the test client leaves it out): it marks a
    # persistent connection as due for a health check.
    close_old_connections()
    return api.get("/api/v1/products")


def _admin_url() -> str:
    params = connection.settings_dict
    return (
        f"postgresql://{params['USER']}@{params['HOST']}:{params['PORT'] or 5432}/{params['NAME']}"
    )
