"""The demo shop: builds on a throwaway SQLite, deterministically, and never loses a shop's data."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from behavior.models import Event, Shopper
from catalog.models import Category, Product, Promotion
from demo import services
from demo.selectors import shop_fingerprint
from demo.synthetic import plan_shop
from tests.conftest import REPO_ROOT
from tests.factories import EventFactory, ProductFactory, ShopperFactory

NOW = "2026-11-01T12:00:00+00:00"
# Nothing listens on port 1: a demo --check that touched the configured database would fail.
UNREACHABLE_DATABASE = "postgres://nobody@127.0.0.1:1/nothing"


def _demo_check(*args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": UNREACHABLE_DATABASE,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "demo", "--check", "--now", NOW, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _fingerprint(result: subprocess.CompletedProcess) -> str:
    """The stored shop's fingerprint, printed before verification (which the test above owns)."""
    found = re.search(r"Fingerprint: (\w+)", result.stdout)
    assert found, result.stdout + result.stderr
    return found.group(1)


def test_the_demo_check_builds_and_verifies_a_full_shop_on_a_throwaway_sqlite_database():
    result = _demo_check("--no-train")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Verified: every slot has something to show." in result.stdout
    assert "Demo check passed." in result.stdout
    assert re.search(r"^  events +1\d\d,\d{3}$", result.stdout, re.MULTILINE)  # ~200,000
    assert "merchandiser / shelfwise-demo" in result.stdout


def test_the_same_seed_builds_the_same_shop_and_another_seed_a_different_one():
    first = _fingerprint(_demo_check("--no-train", "--scale", "0.05", "--seed", "7"))

    again = _fingerprint(_demo_check("--no-train", "--scale", "0.05", "--seed", "7"))
    other = _fingerprint(_demo_check("--no-train", "--scale", "0.05", "--seed", "8"))

    assert again == first
    assert other != first


def test_the_planned_shop_is_identical_row_for_row_for_a_seed():
    now = datetime(2026, 11, 1, 12, tzinfo=UTC)

    a, b = plan_shop(seed=3, now=now, scale=0.05), plan_shop(seed=3, now=now, scale=0.05)

    assert a.products == b.products
    assert a.shoppers == b.shoppers
    assert a.events == b.events


def test_every_planned_purchase_follows_an_add_to_cart_or_is_a_repeat_order():
    plan = plan_shop(seed=5, now=datetime(2026, 11, 1, tzinfo=UTC), scale=0.1)
    carted = defaultdict(set)

    ev = plan.events
    for i in range(len(ev)):
        if ev.kind[i] == "add_to_cart":
            carted[ev.session_id[i]].add(ev.product[i])
    purchases = [i for i in range(len(ev)) if ev.kind[i] == "purchase"]

    assert purchases
    assert all(ev.product[i] in carted[ev.session_id[i]] for i in purchases)


@pytest.mark.django_db
def test_the_demo_copies_exactly_the_planned_events_into_postgresql_and_bumps_shopper_versions():
    now = datetime(2026, 11, 1, 12, tzinfo=UTC)

    plan = services.build_demo_shop(seed=11, now=now, scale=0.05)

    ev = plan.events
    assert Event.objects.count() == len(ev)
    stored = {
        e.event_id: e
        for e in Event.objects.select_related("shopper", "product").filter(
            event_id__in=[f"demo-{i + 1:07d}" for i in range(0, len(ev), 97)]
        )
    }
    for i in range(0, len(ev), 97):
        event = stored[f"demo-{i + 1:07d}"]
        assert event.shopper.external_id == plan.shoppers[ev.shopper[i]].external_id
        sku = plan.products[ev.product[i]].sku if ev.product[i] >= 0 else None
        assert (event.product.sku if event.product else None) == sku
        assert (event.kind, event.value, event.query) == (ev.kind[i], ev.value[i], ev.query[i])
        assert (event.session_id, event.order_id) == (ev.session_id[i], ev.order_id[i])
        assert event.occurred_at == ev.occurred_at[i]
    # Serving keys a shopper's real-time state on events_version: every shopper with events
    # moved on, the cold-start ones did not.
    active = {plan.shoppers[s].external_id for s in set(ev.shopper)}
    versions = dict(Shopper.objects.values_list("external_id", "events_version"))
    assert {e for e, v in versions.items() if v > 0} == active
    assert set(versions) - active  # some cold-start shoppers, so the assertion above can fail


@pytest.mark.django_db
def test_rerunning_the_demo_keeps_the_shop_and_reset_rebuilds_it():
    options = ["--no-serve", "--no-train", "--force", "--scale", "0.05", "--now", NOW]
    call_command("demo", *options, "--seed", "1", stdout=StringIO())
    first = shop_fingerprint()

    call_command("demo", *options, "--seed", "2", stdout=StringIO())
    kept = shop_fingerprint()
    call_command("demo", *options, "--seed", "2", "--reset", stdout=StringIO())

    assert kept == first
    assert shop_fingerprint() != first
    assert Product.objects.count() == 100
    assert Shopper.objects.count() == 250
    assert Event.objects.count() >= 9_000
    assert Promotion.objects.filter(name__startswith="[demo] ").count() == 8


@pytest.mark.django_db
def test_reset_deletes_demo_rows_only():
    own = ProductFactory(sku="SHOP-1", title="The shop's own product")
    options = ["--no-serve", "--no-train", "--force", "--scale", "0.05", "--now", NOW]
    call_command("demo", *options, stdout=StringIO())

    call_command("demo", "--reset", *options, stdout=StringIO())

    assert Product.objects.filter(pk=own.pk, title="The shop's own product").exists()
    assert Product.objects.exclude(sku__startswith="DEMO-").count() == 1


@pytest.mark.django_db
def test_reset_keeps_the_shops_own_subcategory_under_a_demo_category_and_rebuilds(tmp_path):
    options = ["--no-serve", "--no-train", "--force", "--scale", "0.05", "--now", NOW]
    call_command("demo", *options, stdout=StringIO())
    gnomes = tmp_path / "gnomes.csv"
    gnomes.write_text("sku,title,price,category\nREV-B-5,Gnome,5.00,Garden/Gnomes\n")
    call_command("import_products", str(gnomes), "--no-progress", stdout=StringIO())
    own = ProductFactory(sku="SHOP-2", category=Category.objects.get(slug="demo-garden-plants"))

    call_command("demo", "--reset", *options, stdout=StringIO())

    gnome = Product.objects.get(sku="REV-B-5")
    assert (gnome.category.name, gnome.category.parent.slug) == ("Gnomes", "demo-garden")
    assert Product.objects.get(pk=own.pk).category.slug == "demo-garden-plants"
    assert Category.objects.filter(slug__startswith="demo-").count() == 43
    assert Product.objects.filter(sku__startswith="DEMO-").count() == 100


@pytest.mark.django_db
def test_reset_deletes_the_demo_categories_nothing_of_the_shop_uses():
    options = ["--no-serve", "--no-train", "--force", "--scale", "0.05", "--now", NOW]
    call_command("demo", *options, stdout=StringIO())
    garden = Category.objects.get(slug="demo-garden")
    real = Category.objects.create(name="Gnomes", slug="gnomes", parent=garden)

    deleted = services.reset_demo_data()

    assert set(Category.objects.values_list("slug", flat=True)) == {"demo-garden", "gnomes"}
    assert deleted["categories"] == 42
    assert Category.objects.get(pk=real.pk).parent == garden


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--scale", "0"], "--scale must be above 0"),
        (["--scale", "100.5"], r"--scale must be above 0 and at most 100 \(got 100.5"),
        (["--scale", "nan"], "--scale must be above 0 and at most 100"),
        # Above the old limit of 10 and accepted: the next check (the file) is what stops it.
        (["--scale", "100", "--online-retail", "/nonexistent/retail.csv"], "no such file"),
        (["--now", "yesterday-ish"], "not an ISO date"),
        (["--now", "2024-02-30T00:00"], r"not an ISO date .*day is out of range"),
        (["--now", "0001-01-01T00:00+01:00"], r"not an ISO date .*out of range"),
        (["--now", "0001-01-05T00:00Z"], r"--now 0001-01-05T00:00Z: .* from 1970-04-01T00:00"),
        (["--now", "1970-03-31T23:59Z"], r"90 days of events before it \(none before 1970-01-01"),
        (["--now", "9999-12-06T00:01Z"], r"promotions up to 25 days after it, .* 9999-12-06T00:00"),
        (["--online-retail", "/nonexistent/online_retail.csv"], "no such file"),
    ],
)
def test_bad_options_stop_with_a_clear_message_and_store_nothing(option, message):
    with pytest.raises(CommandError, match=message):
        call_command("demo", "--no-serve", "--force", *option)

    assert not Product.objects.exists()


@pytest.mark.parametrize("now", ["0001-01-05T00:00Z", "2024-02-30T00:00", "9999-12-30T00:00Z"])
def test_the_check_refuses_a_time_the_demo_cannot_be_built_around_before_building(now):
    result = _demo_check("--no-train", "--scale", "0.05", "--now", now)

    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("CommandError: --now"), result.stderr
    assert "Checking the demo" not in result.stdout  # no child started, nothing built


@pytest.mark.django_db
@pytest.mark.parametrize("now", ["1970-04-01T00:00Z", "9999-12-06T00:00Z"])
def test_the_demo_builds_trains_and_verifies_at_the_ends_of_the_times_it_accepts(now):
    out = StringIO()

    call_command(
        "demo", "--no-serve", "--verify", "--force", "--scale", "0.05", "--now", now, stdout=out
    )

    assert "Verified: every slot has something to show." in out.getvalue()
    assert not Event.objects.filter(occurred_at__lt=datetime(1970, 1, 1, tzinfo=UTC)).exists()


@pytest.mark.django_db
def test_the_demo_refuses_to_run_with_debug_off_unless_forced(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("demo", "--no-serve", "--scale", "0.05")

    assert not Product.objects.exists()


@pytest.mark.django_db
def test_dressing_an_imported_shop_is_marked_and_reset_takes_it_back():
    products = [ProductFactory(price=Decimal("4.50"), stock=None) for _ in range(60)]
    shopper = ShopperFactory()
    EventFactory(shopper=shopper, product=products[0], event_id="online-retail-1")
    now = datetime(2026, 11, 1, 12, tzinfo=UTC)

    services.dress_imported_shop(seed=4, now=now)
    dressed_promotions = Promotion.objects.filter(name__startswith="[demo] ").count()
    redeemable = Product.objects.filter(points_price__isnull=False).count()
    sold_out = Product.objects.filter(stock=0).count()
    services.reset_demo_data()

    assert dressed_promotions == 7
    assert redeemable > 0
    assert sold_out > 0
    assert not Promotion.objects.exists()
    assert not Product.objects.filter(points_price__isnull=False).exists()
    assert not Product.objects.filter(stock=0).exists()
    assert all(p.attributes == {} for p in Product.objects.all())
    assert Event.objects.filter(event_id="online-retail-1").exists()


@pytest.mark.django_db
def test_a_demo_built_right_after_a_snapshot_is_served_at_once(
    settings, django_capture_on_commit_callbacks
):
    # A snapshot of another catalog, taken moments before the build: within its check
    # interval serving trusts the version counter, which the build must move.
    from recommender.serving.catalog_state import current_catalog, forget_catalog

    settings.SHELFWISE_CATALOG_CHECK_SECONDS = 3600
    forget_catalog()
    old = ProductFactory(sku="OLD-1")
    assert current_catalog().pks.tolist() == [old.pk]

    with django_capture_on_commit_callbacks(execute=True):
        services.build_demo_shop(seed=7, now=datetime(2026, 11, 1, 12, tzinfo=UTC), scale=0.05)

    assert len(current_catalog()) == Product.objects.count() > 1
    forget_catalog()


@pytest.mark.django_db
def test_the_demo_ends_with_a_simulated_week_on_the_kpi_page_and_reset_takes_it_back():
    from recommender.models import Impression, PlacementKpi

    options = ["--no-serve", "--no-train", "--force", "--scale", "0.05", "--now", NOW]
    call_command("demo", *options, "--traffic-shoppers", "30", stdout=StringIO())

    clicks = Event.objects.filter(event_id__startswith="demo-sim-", recommendation_id__isnull=False)
    assert clicks.exists()
    assert Impression.objects.filter(shopper__startswith="demo-shopper-").exists()
    assert sum(PlacementKpi.objects.values_list("clicks", flat=True)) == clicks.count()
    call_command("demo", "--reset", *options, "--traffic-shoppers", "0", stdout=StringIO())
    assert not Impression.objects.exists()
    assert not Event.objects.filter(event_id__startswith="demo-sim-").exists()
