"""Reads for the dashboard's overview, cold-start and models pages (each a few indexed queries)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max, Q
from django.db.models.functions import TruncDate

from behavior.models import Event, EventKind, Shopper
from catalog.models import Category, Product
from recommender.impressions import impressions_last_day
from recommender.labels import algorithm_label, is_metric
from recommender.models import ModelVersion, TrainingRun
from recommender.selectors import champion_versions
from recommender.serving.model_cache import champion_models, serving_choice
from recommender.serving.results import Recommendations
from recommender.serving.service import recommend
from recommender.serving.slots import ShopperInfo

CHART_DAYS = 30
FUNNEL_KINDS = (EventKind.VIEW, EventKind.ADD_TO_CART, EventKind.PURCHASE)
TRAINING_STALE_AFTER = timedelta(hours=48)
INGESTION_STALE_AFTER = timedelta(hours=6)
CHART_CACHE_SECONDS = 60


@dataclass(frozen=True)
class Alert:
    level: str  # "warn" or "bad", the badge colour
    title: str
    detail: str


def overview(*, now: datetime) -> dict:
    """Counts, funnel, reach, the events chart, champions and alerts for the overview page."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    latest = Event.objects.order_by("-occurred_at").values_list("occurred_at", flat=True).first()
    # Imported history (Online Retail ends in 2011) would make a chart of the last 30 days empty:
    # chart the 30 days up to the newest event instead, and say so.
    anchor = now if latest is None or latest >= now - timedelta(days=CHART_DAYS) else latest
    since = (anchor - timedelta(days=CHART_DAYS - 1)).replace(hour=0, minute=0, second=0)
    window = Event.objects.between(start=since, end=anchor + timedelta(seconds=1))
    # The chart scans a month of events (40-120 ms on Online Retail's busiest month): a minute
    # old is fresh enough for it, and the funnel is summed from the same counts.
    chart = cache.get_or_set(
        f"dashboard:events-chart:{since:%Y%m%d}",
        lambda: events_per_day(queryset=window, since=since, days=CHART_DAYS),
        CHART_CACHE_SECONDS,
    )
    by_kind = {
        kind: sum(d["data"]) for kind, d in zip(chart["kinds"], chart["datasets"], strict=True)
    }
    impressions = impressions_last_day(now=now)
    available = Product.objects.available().count()
    reached = len(impressions)
    return {
        "shoppers": Shopper.objects.count(),
        "products": Product.objects.count(),
        "available": available,
        "events_today": Event.objects.between(start=today, end=now).count(),
        "events_week": Event.objects.between(start=now - timedelta(days=7), end=now).count(),
        "latest_event": latest,
        "chart_since": since,
        "chart_until": anchor,
        "chart_is_history": anchor is not now,
        "funnel": _funnel(by_kind),
        "reach": {
            "products": reached,
            "share": reached / available if available else 0.0,
            "impressions": sum(impressions.values()),
        },
        "chart": chart,
        "champions": list(champion_versions()),
        "last_run": TrainingRun.objects.order_by("-created_at", "-id").first(),
        "alerts": alerts(now=now, impressions=impressions),
    }


def _funnel(by_kind: dict[str, int]) -> list[dict]:
    steps, first = [], by_kind.get(EventKind.VIEW, 0)
    for kind in FUNNEL_KINDS:
        n = by_kind.get(kind, 0)
        steps.append({"kind": kind.label, "count": n, "share": n / first if first else None})
    return steps


def events_per_day(*, queryset, since: datetime, days: int) -> dict:
    """Chart.js data: one dataset per event kind, a label per day (days without events at 0)."""
    labels = [(since + timedelta(days=d)).date() for d in range(days)]
    counts = (
        queryset.annotate(day=TruncDate("occurred_at"))
        .values_list("day", "kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    series: dict[str, dict] = {kind: {} for kind in EventKind.values}
    for day, kind, n in counts:
        series.setdefault(kind, {})[day] = n
    kinds = [kind for kind in EventKind.values if series[kind]]
    return {
        "labels": [d.isoformat() for d in labels],
        "kinds": kinds,
        "datasets": [
            {"label": EventKind(kind).label, "data": [series[kind].get(d, 0) for d in labels]}
            for kind in kinds
        ],
    }


def alerts(*, now: datetime, impressions: dict[int, int]) -> list[Alert]:
    """What a merchandiser should act on: stale models, stalled ingestion, sold-out items shown."""
    found: list[Alert] = []
    last_success = TrainingRun.objects.filter(status=TrainingRun.Status.SUCCEEDED).aggregate(
        at=Max("finished_at")
    )["at"]
    if last_success is None or last_success < now - TRAINING_STALE_AFTER:
        when = f"last on {last_success:%-d %b %Y %H:%M}" if last_success else "never"
        found.append(
            Alert("bad", "No successful training in 48 hours", f"Models were trained {when}.")
        )
    # The newest row by primary key is the last one received (received_at has no index).
    received = Event.objects.order_by("-id").values_list("received_at", flat=True).first()
    if received is None or received < now - INGESTION_STALE_AFTER:
        when = f"the last arrived {received:%-d %b %Y %H:%M}" if received else "none ever arrived"
        found.append(Alert("warn", "Event ingestion stalled", f"No events in 6 hours; {when}."))
    # Unavailable products are few: read them all (one small query) and intersect in Python,
    # rather than sending every recommended pk to the database (150 ms for 3,600 of them).
    unavailable_rows = Product.objects.filter(Q(is_active=False) | Q(stock__lte=0))
    unavailable = sorted(
        sku for pk, sku in unavailable_rows.values_list("pk", "sku") if pk in impressions
    )[:10]
    if unavailable:
        found.append(
            Alert(
                "bad",
                "Unavailable products still recommended",
                f"Recommended in the last day but now out of stock or inactive: "
                f"{', '.join(unavailable)}.",
            )
        )
    return found


def cold_start_preview(
    *, now: datetime, k: int, country: str = "", interests: frozenset[int] = frozenset()
) -> Recommendations:
    """The "for you" list a brand-new shopper (no events yet) with this profile would get."""
    shopper = ShopperInfo(
        pk=None, external_id="(new shopper)", country=country, interests=interests
    )
    return recommend(shopper=shopper, slot="for_you", k=k, now=now)


ALGORITHM_NAMES = {
    "popularity": "best-sellers",
    "trending": "trending products",
    "item_knn": "products bought together (item-kNN)",
    "als": "ALS",
    "ease": "EASE",
    "blend": "a blend of models",
}


def serving_summary() -> list[dict[str, str]]:
    """Per slot, what serves and why, in a merchandiser's words ("For you: ALS, 2.7x better
    than best-sellers on the shoppers of the last 10 % of activity (interval 2.4-3.2x)")."""
    choice = serving_choice(champion_models())
    recent = f"the shoppers of the last {settings.SHELFWISE_HOLDOUT_FRACTION:.0%} of activity"
    served = choice.model
    name = ALGORITHM_NAMES.get(served.algorithm, served.algorithm) if served else ""
    if served is None:
        for_you = "trending in the shopper's country, then best-sellers (no personalised model)"
    elif choice.rule == "configured":
        for_you = f"{name}, pinned by SHELFWISE_SERVING_MODEL"
    elif choice.rule == "uncompared":
        for_you = f"{name}; not yet compared with best-sellers on the same shoppers"
    elif not served.personalized:
        for_you = (
            f"{name}: no personalised model beat them on {recent} (NDCG@10 {choice.score.ndcg:.4f})"
        )
    else:
        baseline = ALGORITHM_NAMES.get(choice.baseline.algorithm, choice.baseline.algorithm)
        interval = choice.ratio_interval
        spread = f" (interval {interval[0]:.1f}-{interval[1]:.1f}x)" if interval else ""
        ratio = f"{choice.ratio:.1f}x better than" if choice.ratio else "better than"
        for_you = f"{name}, {ratio} {baseline} on {recent}{spread}; NDCG@10 {choice.score.ndcg:.4f}"
    ranking = name if served is not None else "best-sellers"
    return [
        {"slot": "For you", "text": for_you},
        {"slot": "Promotions and points", "text": f"eligible products ranked by {ranking}"},
        {"slot": "Trending", "text": "trending in the shopper's country, then best-sellers"},
        {"slot": "New arrivals", "text": "new products close to what the shopper looked at"},
        {"slot": "Buy again", "text": "the shopper's own repeat purchases"},
    ]


def top_countries(*, limit: int) -> list[str]:
    """Country codes with the most shoppers, most first."""
    rows = (
        Shopper.objects.exclude(country="")
        .values_list("country")
        .annotate(n=Count("id"))
        .order_by("-n", "country")[:limit]
    )
    return [country for country, _n in rows]


def interest_categories(*, limit: int) -> list[Category]:
    """Categories shoppers declared most interest in; top-level ones when nobody declared any."""
    declared = list(
        Category.objects.annotate(n=Count("interested_shoppers"))
        .filter(n__gt=0)
        .order_by("-n", "name")[:limit]
    )
    return declared or list(Category.objects.filter(parent=None).order_by("name")[:limit])


def metrics_history(*, metric: str) -> dict:
    """Chart.js data: ``metric`` per training run (x) with one line per algorithm."""
    rows = ModelVersion.objects.order_by("run_id", "id").values_list(
        "run_id", "algorithm", "metrics"
    )
    runs: list[int] = []
    values: dict[str, dict[int, float]] = {}
    for run_id, algorithm, metrics in rows:
        value = (metrics or {}).get(metric)
        if value is None:
            continue
        if not runs or runs[-1] != run_id:
            runs.append(run_id)
        values.setdefault(algorithm, {})[run_id] = round(float(value), 5)
    return {
        "metric": metric,
        "labels": [f"run #{r}" for r in runs],
        "datasets": [
            {"label": algorithm_label(algorithm), "data": [by_run.get(r) for r in runs]}
            for algorithm, by_run in sorted(values.items())
        ],
    }


def default_metric() -> str:
    return f"ndcg@{settings.SHELFWISE_EVAL_K}"


def metric_names(versions: list[ModelVersion]) -> list[str]:
    """Every metric any of these versions reports, the default one first (counts and notes
    stored beside them, such as n_users or champion_version, are not metrics)."""
    names = sorted({name for v in versions for name in (v.metrics or {}) if is_metric(name)})
    first = default_metric()
    return [first, *(n for n in names if n != first)] if first in names else names
