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
    version = result.model_version
    return {
        "id": result.recommendation_id,
        "placement": placement,
        "variant": "",  # the A/B test arm, once tests exist
        "model": f"{version['algorithm']}@v{version['version']}" if version else "",
        "items": [item.product.id for item in result.items],
        "shopper": (result.shopper or {}).get("external_id", ""),
        "product": result.product or "",
        "at": now.isoformat(),
    }
