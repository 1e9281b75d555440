"""Countries are ISO codes: stored as codes, accepted as codes by the API, shown by name."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from behavior.countries import country_code, country_name
from behavior.models import Shopper

BEFORE = [("behavior", "0003_shopper_events_version")]
AFTER = [("behavior", "0004_shopper_country_iso_codes")]


@pytest.mark.parametrize(
    ("written", "code"),
    [
        ("Germany", "DE"),
        ("united kingdom", "GB"),
        ("EIRE", "IE"),
        ("RSA", "ZA"),
        ("USA", "US"),
        ("Channel Islands", "XC"),
        ("European Community", "EU"),
        ("Unspecified", ""),
        ("de", "DE"),
        ("", ""),
        ("Atlantis", None),
    ],
)
def test_country_code_reads_codes_names_and_the_online_retail_spellings(written, code):
    assert country_code(written) == code


def test_a_code_is_shown_by_its_name_including_the_user_assigned_ones():
    assert [country_name(c) for c in ("DE", "XC", "")] == ["Germany", "Channel Islands", ""]


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.fixture
def latest_schema_after():
    """Back to every app's newest migration: AFTER is not the newest once later ones exist,
    and the next tests need their columns."""
    yield
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("latest_schema_after")
def test_the_migration_turns_stored_names_into_codes_and_back():
    _migrate(BEFORE)
    with connection.cursor() as cursor:
        for n, name in enumerate(["Germany", "EIRE", "RSA", "Unspecified", "European Community"]):
            cursor.execute(
                "INSERT INTO behavior_shopper (external_id, country, segment, points_balance,"
                " created_at) VALUES (%s, %s, '', 0, now())",
                [f"m-{n}", name],
            )

    _migrate(AFTER)

    stored = dict(Shopper.objects.order_by("external_id").values_list("external_id", "country"))
    assert stored == {"m-0": "DE", "m-1": "IE", "m-2": "ZA", "m-3": "", "m-4": "EU"}
    assert Shopper.objects.get(external_id="m-0").country.name == "Germany"

    _migrate(BEFORE)
    with connection.cursor() as cursor:
        cursor.execute("SELECT country FROM behavior_shopper ORDER BY external_id")
        names = [row[0] for row in cursor.fetchall()]
    _migrate(AFTER)
    assert names == ["Germany", "Ireland", "South Africa", "", "European Community"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("latest_schema_after")
def test_the_migration_stops_and_changes_nothing_when_a_country_has_no_code():
    _migrate(BEFORE)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO behavior_shopper (external_id, country, segment, points_balance,"
            " created_at) VALUES ('a', 'Germany', '', 0, now()), ('b', 'Atlantis', '', 0, now())"
        )

    with pytest.raises(RuntimeError, match="'Atlantis' \\(1 shoppers\\)"):
        _migrate(AFTER)

    with connection.cursor() as cursor:
        cursor.execute("SELECT country FROM behavior_shopper ORDER BY external_id")
        assert [row[0] for row in cursor.fetchall()] == ["Germany", "Atlantis"]
        cursor.execute("UPDATE behavior_shopper SET country = '' WHERE external_id = 'b'")
    _migrate(AFTER)
    assert Shopper.objects.get(external_id="a").country == "DE"


@pytest.mark.django_db
def test_the_shopper_api_stores_a_code_and_refuses_an_unknown_one(admin_client):
    stored = admin_client.put(
        "/api/v1/shoppers/ann", {"country": "fr"}, content_type="application/json"
    )
    refused = admin_client.put(
        "/api/v1/shoppers/ann", {"country": "Germany"}, content_type="application/json"
    )

    assert stored.status_code == 201 and stored.json()["country_name"] == "France"
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["attr"] == "country"
    assert Shopper.objects.get(external_id="ann").country == "FR"
