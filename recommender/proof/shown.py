"""Serve a response as the instance a shopper sees: a fresh id, and its impression logged."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings

from recommender.impressions import record_impressions
from recommender.serving.results import Recommendations


def serve(result: Recommendations, *, placement: str, now: datetime) -> Recommendations:
    """``result`` stamped with a new ``recommendation_id``, its impression buffered (no
    database write; Redis, once a second); never raises for the log's sake.

    Called per response served, after the response cache: a cached list served again is a
    new impression with its own id, so a click always names the showing that earned it.
    """
    served = result.served()
    log_shown(
        recommendation_id=served.recommendation_id or "",
        placement=placement,
        model_version=served.model_version,
        product_ids=[item.product.id for item in served.items],
        shopper=(served.shopper or {}).get("external_id", ""),
        product=served.product or "",
        now=now,
    )
    return served


def log_shown(
    *,
    recommendation_id: str,
    placement: str,
    model_version: dict[str, Any] | None,
    product_ids: list[int],
    shopper: str,
    product: str,
    now: datetime,
    rules: dict[str, list[int]] | None = None,
    variant: str = "",
) -> None:
    """Buffer one served response's impression, whatever answered it (a slot, a product list
    or a placement): the hourly per-product counts and the stream entry ``drain`` reads.

    ``rules`` maps a rule id to the product ids it placed or boosted here (a placement's
    answer), for the KPIs per rule; ``variant`` is the A/B test arm that served it, if any
    ("<experiment id>:<variant name>")."""
    # An empty list showed nothing to click or count, unless an A/B test served it (a holdout,
    # or a variant with nothing to show): that shopper's exposure must still count.
    if not product_ids and not variant:
        return
    if not settings.SHELFWISE_LOG_IMPRESSIONS:
        return
    record_impressions(
        product_ids=product_ids,
        now=now,
        shown={
            "id": recommendation_id,
            "placement": placement,
            "variant": variant,
            "model": (
                f"{model_version['algorithm']}@v{model_version['version']}" if model_version else ""
            ),
            "items": product_ids,
            "shopper": shopper,
            "product": product,
            "at": now.isoformat(),
            "rules": rules or {},
        },
    )
