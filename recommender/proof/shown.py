"""Serve a response as the instance a shopper sees: a fresh id, and its impression logged."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from recommender.impressions import record_impressions
from recommender.serving.results import Recommendations


def serve(result: Recommendations, *, placement: str, now: datetime) -> Recommendations:
    """``result`` stamped with a new ``recommendation_id``, its impression buffered (no
    database write; Redis, once a second); never raises for the log's sake.

    Called per response served, after the response cache: a cached list served again is a
    new impression with its own id, so a click always names the showing that earned it.
    """
    served = result.served()
    if served.items:  # an empty list showed nothing: no impression to click or to count
        record_impressions(
            product_ids=[item.product.id for item in served.items],
            now=now,
            shown=impression_entry(served, placement=placement, now=now),
        )
    return served


def impression_entry(result: Recommendations, *, placement: str, now: datetime) -> dict[str, Any]:
    """The stream entry for one served response (read back by ``drain``)."""
    return shown_entry(
        recommendation_id=result.recommendation_id or "",
        placement=placement,
        model_version=result.model_version,
        product_ids=[item.product.id for item in result.items],
        shopper=(result.shopper or {}).get("external_id", ""),
        product=result.product or "",
        now=now,
    )


def shown_entry(
    *,
    recommendation_id: str,
    placement: str,
    model_version: dict[str, Any] | None,
    product_ids: list[int],
    shopper: str,
    product: str,
    now: datetime,
) -> dict[str, Any]:
    """One impression as the stream stores it, whatever answered (a slot, a product list or
    a placement)."""
    return {
        "id": recommendation_id,
        "placement": placement,
        "variant": "",  # the A/B test arm, once tests exist
        "model": (
            f"{model_version['algorithm']}@v{model_version['version']}" if model_version else ""
        ),
        "items": product_ids,
        "shopper": shopper,
        "product": product,
        "at": now.isoformat(),
    }
