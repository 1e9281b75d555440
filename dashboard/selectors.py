"""What the overview, cold-start and models pages show, composed from each app's selectors (the
dashboard queries no app's tables itself)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from behavior import selectors as behavior_selectors
from behavior import volume_selectors
from catalog import selectors as catalog_selectors
from recommender.impressions import impressions_last_day
from recommender.selectors import champion_versions, last_successful_training, latest_training_run
from recommender.serving.model_cache import champion_models, serving_choice
from recommender.serving.results import Recommendations
from recommender.serving.service import recommend
from recommender.serving.slots import ShopperInfo

CHART_DAYS = 30
TRAINING_STALE_AFTER = timedelta(hours=48)
INGESTION_STALE_AFTER = timedelta(hours=6)


@dataclass(frozen=True)
class Alert:
    level: str  # "warn" or "bad", the badge colour
    title: str
    detail: str


def overview(*, now: datetime) -> dict:
    """Counts, funnel, reach, the events chart, champions and alerts for the overview page."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    latest = volume_selectors.latest_event_time()
    # Imported history (Online Retail ends in 2011) would make a chart of the last 30 days empty:
    # chart the 30 days up to the newest event instead, and say so.
    anchor = now if latest is None or latest >= now - timedelta(days=CHART_DAYS) else latest
    since = (anchor - timedelta(days=CHART_DAYS - 1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    chart = volume_selectors.events_chart(since=since, until=anchor, days=CHART_DAYS)
    impressions = impressions_last_day(now=now)
    counts = catalog_selectors.product_counts()
    available = counts["available"]
    reached = len(impressions)
    return {
        "shoppers": behavior_selectors.shopper_count(),
        "products": counts["products"],
        "available": available,
        "events_today": volume_selectors.events_between(start=today, end=now),
        "events_week": volume_selectors.events_between(start=now - timedelta(days=7), end=now),
        "latest_event": latest,
        "chart_since": since,
        "chart_until": anchor,
        "chart_is_history": anchor is not now,
        "funnel": volume_selectors.funnel(chart=chart),
        "reach": {
            "products": reached,
            "share": reached / available if available else 0.0,
            "impressions": sum(impressions.values()),
        },
        "chart": chart,
        "champions": list(champion_versions()),
        "last_run": latest_training_run(),
        "alerts": alerts(now=now, impressions=impressions),
    }


def alerts(*, now: datetime, impressions: dict[int, int]) -> list[Alert]:
    """What a merchandiser should act on: stale models, stalled ingestion, sold-out items shown."""
    found: list[Alert] = []
    last_success = last_successful_training()
    if last_success is None or last_success < now - TRAINING_STALE_AFTER:
        when = f"last on {last_success:%-d %b %Y %H:%M}" if last_success else "never"
        found.append(
            Alert("bad", "No successful training in 48 hours", f"Models were trained {when}.")
        )
    received = volume_selectors.last_received_time()
    if received is None or received < now - INGESTION_STALE_AFTER:
        when = f"the last arrived {received:%-d %b %Y %H:%M}" if received else "none ever arrived"
        found.append(Alert("warn", "Event ingestion stalled", f"No events in 6 hours; {when}."))
    unavailable = catalog_selectors.unavailable_skus(among=impressions, limit=10)
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
