"""Staff see every page with real content, in a bounded number of queries."""

from __future__ import annotations

import pytest

from behavior.models import Event, Shopper
from recommender.impressions import record_impressions
from recommender.models import ModelVersion


def test_the_overview_shows_counts_funnel_chart_champions_and_alerts(
    staff_client, shop, django_assert_max_num_queries
):
    with django_assert_max_num_queries(16):
        response = staff_client.get("/")

    assert response.status_code == 200
    page = response.content.decode()
    assert ">90<" in page  # shoppers
    assert "Funnel" in page and "Viewed" in page and "Purchased" in page
    chart = response.context["chart"]
    assert {d["label"] for d in chart["datasets"]} == {"Viewed", "Purchased"}
    assert sum(sum(d["data"]) for d in chart["datasets"]) > 0
    assert 'id="events-chart"' in page  # json_script for Chart.js
    assert {v.algorithm for v in response.context["champions"]} == {
        "item_knn",
        "popularity",
        "trending",
    }
    # The shop's events are from 2011: ingestion counts as stalled.
    assert "Event ingestion stalled" not in page or response.context["events_today"] == 0


def test_the_overview_alerts_when_a_sold_out_product_is_still_being_recommended(staff_client, shop):
    from django.utils import timezone

    product = shop["products"][0]
    record_impressions(product_ids=[product.pk], now=timezone.now())
    product.stock = 0
    product.save()

    response = staff_client.get("/")

    assert "Unavailable products still recommended" in response.content.decode()
    assert product.sku in response.content.decode()


def test_the_overview_alerts_when_no_model_was_ever_trained(staff_client, db):
    response = staff_client.get("/")

    assert response.status_code == 200
    assert "No successful training in 48 hours" in response.content.decode()
    assert "No model serves yet" in response.content.decode()


def test_the_overview_reports_the_share_of_the_catalog_recommendations_reach(staff_client, shop):
    from django.utils import timezone

    record_impressions(product_ids=[p.pk for p in shop["products"][:6]], now=timezone.now())

    response = staff_client.get("/")

    assert response.context["reach"]["products"] == 6
    assert response.context["reach"]["share"] == pytest.approx(6 / 30)
    assert "20 %" in response.content.decode()


def test_the_shopper_list_searches_by_external_id_country_and_segment(staff_client, shop):
    response = staff_client.get("/shoppers/", {"q": "s-1", "country": "FR"})

    assert response.status_code == 200
    found = [s.external_id for s, _activity in response.context["rows"]]
    assert found and all(s.startswith("s-1") for s in found)
    assert "s-1" in found  # s-1 is French (countries cycle Germany, France, UK)
    assert "s-11" not in found  # s-11 is British
    assert 'href="/shoppers/s-1/"' in response.content.decode()


def test_the_shopper_list_rejects_an_unknown_country_with_a_message(staff_client, shop):
    response = staff_client.get("/shoppers/", {"country": "Atlantis"})

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


def test_a_shoppers_page_shows_profile_timeline_and_every_slot_with_reasons_and_sources(
    staff_client, shop, django_assert_max_num_queries
):
    # Five slots, each a constant handful of queries (profile, recent events, purchases, cards),
    # whatever the number of items or events.
    with django_assert_max_num_queries(40):
        response = staff_client.get("/shoppers/s-1/")

    assert response.status_code == 200
    page = response.content.decode()
    for title in (
        "For you",
        "Promotions",
        "Points redemption",
        "Trending / cold start",
        "Buy again",
    ):
        assert f"<h2>{title}</h2>" in page
    slots = {slot: result for slot, _title, result in response.context["slots"]}
    for_you = slots["for_you"].items
    assert for_you and for_you[0].source.startswith("item_knn@v")
    assert for_you[0].reason.text in page
    assert all(i.reason.code == "promotion" for i in slots["promotions"].items)
    assert "France" in page and "Event timeline" in page
    assert len(response.context["timeline"]) > 0


def test_buy_again_on_the_page_of_a_shopper_who_never_bought_says_so(staff_client, shop):
    Shopper.objects.create(external_id="window-shopper", country="FR")

    response = staff_client.get("/shoppers/window-shopper/")

    slots = {slot: result for slot, _title, result in response.context["slots"]}
    assert slots["buy_again"].items == []
    assert "No purchases yet, so nothing to buy again." in response.content.decode()


def test_an_unknown_shopper_is_a_404(staff_client, shop):
    assert staff_client.get("/shoppers/nobody/").status_code == 404


def test_the_product_list_finds_products_by_sku_or_title(staff_client, shop):
    response = staff_client.get("/products/", {"q": "Plate 3"})

    assert response.status_code == 200
    assert [p.sku for p in response.context["page"]] == ["PLA-3"]


def test_a_products_page_shows_behavioural_and_content_neighbours_bought_together_and_stats(
    staff_client, shop, django_assert_max_num_queries
):
    with django_assert_max_num_queries(20):
        response = staff_client.get("/products/MUG-1/")

    assert response.status_code == 200
    behavioural = response.context["behavioural"]
    assert behavioural and all(i.source.startswith("item_knn@v") for i in behavioural)
    content = response.context["content"]
    assert content and all(p.category_id == shop["categories"][0].pk for p in content)
    assert response.context["together"].items
    views = Event.objects.filter(product__sku="MUG-1", kind="view").count()
    assert response.context["activity"]["view"]["total"] == views
    assert "Similar: behavioural" in response.content.decode()


def test_a_products_page_counts_how_often_it_was_recommended_in_the_last_day(staff_client, shop):
    from django.utils import timezone

    product = shop["products"][1]
    now = timezone.now()
    record_impressions(product_ids=[product.pk, product.pk], now=now)
    record_impressions(product_ids=[product.pk], now=now - timezone.timedelta(hours=3))
    record_impressions(product_ids=[product.pk], now=now - timezone.timedelta(hours=30))

    response = staff_client.get(f"/products/{product.sku}/")

    assert response.context["recommended_last_day"] == 3


def test_the_promotions_page_lists_promotions_points_and_previews_a_shopper(
    staff_client, shop, django_assert_max_num_queries
):
    with django_assert_max_num_queries(30):
        response = staff_client.get("/promotions/", {"shopper": "s-0"})

    assert response.status_code == 200
    assert [p.name for p in response.context["active"]] == ["Mug Week"]
    assert [p.name for p in response.context["upcoming"]] == ["Garden Days"]
    preview = response.context["preview"]
    assert preview["promotions"].items
    assert all(i.product.category == "Mugs" for i in preview["promotions"].items)
    assert all(i.product.points_price <= 2600 for i in preview["points"].items)
    rows = dict(response.context["points_rows"])
    cheapest = next(iter(rows))
    assert cheapest.points_price == 500 and rows[cheapest] == 30


def test_the_promotions_preview_explains_an_unknown_shopper(staff_client, shop):
    response = staff_client.get("/promotions/", {"shopper": "ghost"})

    assert response.status_code == 200
    assert "No shopper has the external id &#x27;ghost&#x27;." in response.content.decode()
    assert response.context["preview"] is None


def test_the_cold_start_page_shows_lists_per_country_and_interest_and_newest_products(
    staff_client, shop, django_assert_max_num_queries
):
    with django_assert_max_num_queries(36):
        response = staff_client.get("/cold-start/")

    assert response.status_code == 200
    countries = dict(response.context["countries"])
    assert set(countries) == {"Germany", "France", "United Kingdom"}
    assert countries["Germany"].items[0].reason.text == "trending in Germany"
    interests = dict(response.context["interests"])
    mugs = next(r for c, r in interests.items() if c.name == "Mugs")
    # Diversity keeps at most half of a list in one category; the followed one comes first.
    assert mugs.items[0].product.category == "Mugs"
    assert mugs.items[0].reason.text == "popular in Mugs, which you follow"
    assert len(response.context["newest"]) == 8
    assert "New shopper in France" in response.content.decode()


def test_the_models_page_shows_runs_versions_champions_and_metrics_history(
    staff_client, shop, django_assert_max_num_queries
):
    with django_assert_max_num_queries(16):
        response = staff_client.get("/models/")

    assert response.status_code == 200
    page = response.content.decode()
    run = response.context["runs"][0]
    assert f'id="run-{run.pk}"' in page and "Succeeded" in page
    assert len(response.context["champions"]) == 3
    assert 'id="metrics-chart"' in page
    history = response.context["history"]
    # One line per algorithm, named as the merchandiser reads it.
    assert {d["label"] for d in history["datasets"]} == {"Item-kNN", "Popularity", "Trending"}
    # Staff without the permission see the button disabled.
    assert "disabled" in page.split("Retrain now")[0].rsplit("<button", 1)[1]


def test_the_models_page_compares_two_versions_metric_by_metric(staff_client, shop):
    a, b = ModelVersion.objects.order_by("id")[:2]

    response = staff_client.get("/models/", {"a": a.pk, "b": b.pk})

    comparison = response.context["comparison"]
    ndcg = next(r for r in comparison["rows"] if r["name"] == "ndcg@10")
    assert ndcg["delta"] == pytest.approx(b.metrics["ndcg@10"] - a.metrics["ndcg@10"])


def test_comparing_a_version_with_itself_is_refused_with_a_message(staff_client, shop):
    a = ModelVersion.objects.first()

    response = staff_client.get("/models/", {"a": a.pk, "b": a.pk})

    assert response.context["comparison"] is None
    assert "Pick two different versions to compare." in response.content.decode()


def test_the_models_page_says_which_versions_were_not_refitted(staff_client, shop):
    version = ModelVersion.objects.filter(algorithm="item_knn").latest("id")
    ModelVersion.objects.filter(pk=version.pk).update(
        metrics={**version.metrics, "fitted_before_holdout": 1.0}
    )

    page = staff_client.get("/models/").content.decode()

    row = page.split(f'title="item_knn id {version.pk}"', 1)[1].split("</tr>", 1)[0]
    assert "fitted before the holdout" in row
    assert page.count("fitted before the holdout") == 1
