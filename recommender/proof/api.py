"""``GET /api/v1/kpis``: the daily KPI rows per placement, variant and model version."""

from __future__ import annotations

from datetime import date, timedelta

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from config.api import QueryValidationErrorSerializer, StrictQuerySerializer, query_params
from recommender.proof.selectors import (
    kpi_record,
    placement_kpis,
    rule_kpis,
    rule_record,
    unattributable_events,
)

MAX_DAYS = 366


class KpiQuerySerializer(StrictQuerySerializer):
    start = serializers.DateField(required=False, help_text="First UTC day; default 29 days ago.")
    end = serializers.DateField(required=False, help_text="Last UTC day; default today.")


class KpiRowSerializer(serializers.Serializer):
    day = serializers.DateField()
    placement = serializers.CharField(help_text='A slot, "similar" or "bought_together".')
    variant = serializers.CharField(allow_blank=True)
    model_version = serializers.CharField(allow_blank=True, help_text='e.g. "als@v12".')
    impressions = serializers.IntegerField()
    clicks = serializers.IntegerField()
    carts = serializers.IntegerField()
    purchases = serializers.IntegerField(help_text="Attributed through a click.")
    revenue = serializers.DecimalField(max_digits=16, decimal_places=2)
    view_through_purchases = serializers.IntegerField()
    view_through_revenue = serializers.DecimalField(max_digits=16, decimal_places=2)
    ctr = serializers.FloatField(allow_null=True, help_text="Clicks per impression.")
    add_to_cart_rate = serializers.FloatField(allow_null=True)
    conversion = serializers.FloatField(allow_null=True, help_text="Purchases per impression.")
    revenue_per_mille = serializers.DecimalField(
        max_digits=16, decimal_places=2, allow_null=True, help_text="Per 1,000 impressions."
    )
    revenue_share = serializers.FloatField(
        allow_null=True, help_text="Of the whole shop's revenue that day."
    )


class RuleKpiRowSerializer(serializers.Serializer):
    day = serializers.DateField()
    rule_id = serializers.IntegerField(help_text="The placements rule (its id in the admin).")
    placement = serializers.CharField()
    impressions = serializers.IntegerField(help_text="Responses the rule fired in.")
    clicks = serializers.IntegerField(help_text="Of the items it placed or boosted.")
    carts = serializers.IntegerField()
    purchases = serializers.IntegerField(help_text="Of its items, attributed through a click.")
    revenue = serializers.DecimalField(max_digits=16, decimal_places=2)
    ctr = serializers.FloatField(allow_null=True, help_text="Clicks per response it fired in.")
    conversion = serializers.FloatField(allow_null=True)


class KpiBodySerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    unattributable_events = serializers.IntegerField(
        help_text="Events naming a recommendation id Shelfwise never served."
    )
    results = KpiRowSerializer(many=True)
    rules = RuleKpiRowSerializer(
        many=True, help_text="Per rule and day: what the items each rule placed earned."
    )


@extend_schema(
    operation_id="kpis_list",
    parameters=[KpiQuerySerializer],
    responses={
        200: KpiBodySerializer,
        400: OpenApiResponse(QueryValidationErrorSerializer, description="Bad dates."),
    },
    description=(
        "What recommendations showed and earned per UTC day, placement, variant and model "
        'version, and per merchandising rule (`rules`; the README\'s "Proving it works"), '
        "newest day first, from the summary tables the worker refreshes every 15 minutes. At "
        "most the 366 days up to `end`: `start` and `end` in the body say which days the rows "
        "cover."
    ),
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def kpis_list(request: Request) -> Response:
    query = query_params(KpiQuerySerializer, request)
    end = query.get("end") or timezone.now().date()
    start = query.get("start") or _days_before(end, 29)
    # Clamped rather than refused: any two dates are a valid request (the schema cannot say
    # "start before end"); the body says which days it covers, and a backwards period has none.
    start = max(start, _days_before(end, MAX_DAYS - 1))
    rows = placement_kpis(start=start, end=end)
    body = {
        "start": start,
        "end": end,
        "unattributable_events": unattributable_events(start=start, end=end),
        "results": [kpi_record(row) for row in rows],
        "rules": [rule_record(row) for row in rule_kpis(start=start, end=end)],
    }
    return Response(KpiBodySerializer(body).data)


def _days_before(end: date, days: int) -> date:
    """``days`` before ``end``, or the first representable day (no overflow into a 500)."""
    return end - timedelta(days=min(days, (end - date.min).days))
