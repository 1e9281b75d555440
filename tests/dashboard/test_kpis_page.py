"""The KPIs page, its CSV export and the same figures in the API."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from recommender.models import KpiDay, PlacementKpi, RuleKpi
from tests.conftest import api_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def figures():
    today = timezone.now().date()
    for day in (today, today - timedelta(days=1)):
        KpiDay.objects.create(
            day=day,
            shop_revenue=Decimal("200.00"),
            unattributable_events=3,
            refreshed_at=timezone.now(),
        )
        PlacementKpi.objects.create(
            day=day,
            placement="for_you",
            model_version="als@v3",
            impressions=400,
            clicks=20,
            carts=8,
            purchases=4,
            revenue=Decimal("50.00"),
        )
    return today


def test_the_page_shows_the_rates_per_placement_and_the_unattributable_figure(
    staff_client, figures
):
    response = staff_client.get("/kpis/")

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="kpi-chart"' in html and 'data-chart="line"' in html
    assert "5.00 %" in html  # CTR 20 / 400
    assert "25.00 %" in html  # share of revenue 50 / 200
    assert "125.00" in html  # revenue per 1,000 impressions
    assert response.context["unattributable"] == 6


def test_an_empty_period_says_so(staff_client):
    response = staff_client.get("/kpis/?days=7")

    assert "No figures for this period." in response.content.decode()


def test_the_csv_export_has_a_line_per_row_with_its_rates(staff_client, figures):
    response = staff_client.get("/kpis/export.csv?days=7")

    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert response["Content-Type"].startswith("text/csv")
    assert len(rows) == 2
    assert (rows[0]["day"], rows[0]["ctr"], rows[0]["revenue_per_mille"]) == (
        str(figures),
        "0.05",
        "125.00",
    )


def test_the_csv_export_escapes_names_a_spreadsheet_would_run(staff_client, figures):
    PlacementKpi.objects.create(
        day=figures, placement="=HYPERLINK(1)", model_version="", impressions=1
    )

    response = staff_client.get("/kpis/export.csv?days=7")

    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert "'=HYPERLINK(1)" in [row["placement"] for row in rows]
    assert "=HYPERLINK(1)" not in [row["placement"] for row in rows]


@pytest.mark.parametrize("url", ["/kpis/", "/kpis/export.csv"])
def test_an_anonymous_visitor_is_sent_to_log_in(client, url):
    assert client.get(url).status_code == 302


@pytest.mark.parametrize("url", ["/kpis/", "/kpis/export.csv"])
def test_a_signed_in_shopper_without_staff_status_gets_403(shopper_client, url):
    assert shopper_client.get(url).status_code == 403


def test_the_api_serves_the_same_figures_to_an_authenticated_client(figures):
    api = api_client(role="reader")

    body = api.get("/api/v1/kpis", {"start": str(figures - timedelta(days=1))}).json()

    assert body["unattributable_events"] == 6
    assert [r["day"] for r in body["results"]] == [str(figures), str(figures - timedelta(days=1))]
    first = body["results"][0]
    assert (first["ctr"], first["conversion"], first["revenue"]) == (0.05, 0.01, "50.00")


def test_the_api_refuses_anonymous_clients(client, figures):
    assert client.get("/api/v1/kpis").status_code in (401, 403)


def test_the_api_answers_a_backwards_period_with_no_rows_and_cuts_a_long_one(figures):
    api = api_client(role="reader")

    backwards = api.get(
        "/api/v1/kpis", {"start": str(figures), "end": str(figures - timedelta(days=1))}
    ).json()
    long = api.get("/api/v1/kpis", {"start": "2000-01-01", "end": str(figures)}).json()

    assert backwards["results"] == [] and backwards["unattributable_events"] == 0
    assert long["start"] == str(figures - timedelta(days=365))
    assert len(long["results"]) == 2


def test_the_api_default_period_near_the_first_representable_day_is_no_error(figures):
    response = api_client(role="reader").get("/api/v1/kpis", {"end": "0001-01-05"})

    assert response.status_code == 200
    assert response.json()["start"] == "0001-01-01"


@pytest.fixture
def rule_figures(figures):
    from placements.models import Rule, RuleKind

    rule = Rule.objects.create(name="Garden boost", kind=RuleKind.BOOST, brand="x")
    for day in (figures, figures - timedelta(days=1)):
        RuleKpi.objects.create(
            day=day,
            rule_id=rule.pk,
            placement="home",
            impressions=50,
            clicks=5,
            carts=2,
            purchases=1,
            revenue=Decimal("12.00"),
        )
    RuleKpi.objects.create(day=figures, rule_id=9999, placement="home", impressions=3)
    return rule


def test_the_page_sums_each_rule_over_the_period_with_its_name(staff_client, rule_figures):
    response = staff_client.get("/kpis/?days=7")

    rows = {row.rule_id: (row, name) for row, name in response.context["rules"]}
    row, name = rows[rule_figures.pk]
    assert (name, row.impressions, row.clicks, row.revenue) == (
        "Garden boost",
        100,
        10,
        Decimal("24.00"),
    )
    assert rows[9999][1] is None and "(deleted rule)" in response.content.decode()


def test_the_rule_csv_and_the_api_list_each_rule_per_day(staff_client, rule_figures):
    response = staff_client.get("/kpis/rules.csv?days=7")
    body = api_client(role="reader").get("/api/v1/kpis").json()

    lines = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(lines) == 3
    assert {line["ctr"] for line in lines if line["rule_id"] == str(rule_figures.pk)} == {"0.1"}
    mine = [r for r in body["rules"] if r["rule_id"] == rule_figures.pk]
    assert [(r["clicks"], r["revenue"], r["ctr"]) for r in mine] == [(5, "12.00", 0.1)] * 2


def test_a_long_period_is_paged_and_the_totals_still_cover_it_all(staff_client, figures):
    PlacementKpi.objects.bulk_create(
        PlacementKpi(day=figures, placement=f"p{n:03d}", impressions=1) for n in range(120)
    )

    first = staff_client.get("/kpis/?days=7")
    second = staff_client.get("/kpis/?days=7&page=2")

    assert len(first.context["page"]) == 100 and len(second.context["page"]) == 22
    assert "Page 1 of 2" in first.content.decode()
    assert first.context["impressions"] == 800 + 120
