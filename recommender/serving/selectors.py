"""Recommendations for a shopper and a slot: read-only, computed per request, cached safely."""

from __future__ import annotations

from datetime import datetime

import numpy as np
from django.conf import settings
from django.db.models import Count, Max

from behavior.models import Event, EventKind, Shopper
from behavior.realtime import recent_events_for, shopper_event_version
from recommender.serving import reasons
from recommender.serving.cache import cached_response, response_key, store_response
from recommender.serving.catalog_state import CatalogSnapshot, current_catalog
from recommender.serving.model_cache import (
    ServingModel,
    champion_models,
    personal_model,
    popularity_model,
)
from recommender.serving.realtime import shopper_profile
from recommender.serving.results import Recommendation, Recommendations, product_cards
from recommender.serving.rules import InvalidRequest, checked_k
from recommender.serving.slots import SLOTS, Pick, ShopperInfo, SlotContext, rank_slot


def recommendations_for(
    *, shopper: Shopper | str, slot: str, k: int, now: datetime, country: str = ""
) -> Recommendations:
    """The slot's best ``k`` products for the shopper, reflecting every event stored before now.

    ``shopper`` is a Shopper or an external id; an unknown id gets the cold-start list (trending
    in ``country`` when given). Raises ``InvalidRequest`` for an unknown slot or k out of range.
    """
    if slot not in SLOTS:
        raise InvalidRequest("slot", f"Unknown slot {slot!r}; one of {', '.join(SLOTS)}.")
    k = checked_k(k)
    info = shopper_info(shopper=shopper, country=country)
    catalog = current_catalog()
    models = champion_models()
    personal, popular = personal_model(models), popularity_model(models)
    version = shopper_event_version(shopper_id=info.pk) if info.pk is not None else 0
    promotions = (
        tuple(p.id for p in catalog.active_promotions(now=now)) if slot == "promotions" else ()
    )
    key = response_key(
        "recommendations",
        slot,
        k,
        info,
        version,
        catalog.version,
        models_key(models),
        promotions,
        settings.SHELFWISE_SERVING_MODEL,
        settings.SHELFWISE_DIVERSITY_MAX_SHARE,
    )
    hit = cached_response(key)
    if hit is not None:
        return hit.from_cache()
    events = recent_events_for(shopper_id=info.pk) if info.pk is not None else []
    context = SlotContext(
        catalog=catalog,
        shopper=info,
        profile=shopper_profile(events=events, catalog=catalog),
        personal=personal,
        popular=popular,
        purchases=purchase_history(shopper_id=info.pk, catalog=catalog),
        now=now,
        k=k,
    )
    result = Recommendations(
        slot=slot,
        items=render(rank_slot(context, slot), catalog=catalog),
        shopper={"external_id": info.external_id, "known": info.known},
        model_version=version_info(personal),
        generated_at=now,
    )
    store_response(key, result)
    return result


def shopper_info(*, shopper: Shopper | str, country: str = "") -> ShopperInfo:
    """What ranking needs to know about the shopper (two small queries)."""
    if isinstance(shopper, str):
        found = Shopper.objects.filter(external_id=shopper).first()
        if found is None:
            return ShopperInfo(pk=None, external_id=shopper, country=country)
        shopper = found
    interests = Shopper.interests.through.objects.filter(shopper_id=shopper.pk).values_list(
        "category_id", flat=True
    )
    return ShopperInfo(
        pk=shopper.pk,
        external_id=shopper.external_id,
        country=shopper.country or country,
        segment=shopper.segment,
        points_balance=shopper.points_balance,
        interests=frozenset(interests),
    )


def purchase_history(
    *, shopper_id: int | None, catalog: CatalogSnapshot
) -> dict[int, tuple[int, datetime]]:
    """Catalog row → (purchase events, last purchase) for everything the shopper bought."""
    if shopper_id is None:
        return {}
    rows = (
        Event.objects.filter(shopper_id=shopper_id, kind=EventKind.PURCHASE)
        .exclude(product_id=None)
        .values("product_id")
        .annotate(times=Count("id"), last=Max("occurred_at"))
        .order_by()
        .values_list("product_id", "times", "last")
    )
    rows = list(rows)
    # One vectorised lookup: per-product rows_of calls cost ~0.05 ms each, 65 ms for a
    # wholesale shopper with 1,300 distinct purchases (Online Retail 17841), per slot.
    catalog_rows = catalog.rows_of(np.array([pk for pk, _t, _l in rows], dtype=np.int64))
    return {
        int(row): (times, last)
        for row, (_pk, times, last) in zip(catalog_rows.tolist(), rows, strict=True)
        if row >= 0
    }


def render(picks: list[Pick], *, catalog: CatalogSnapshot) -> list[Recommendation]:
    """Product cards for the picks (one query), reasons that name the shopper's products.

    A product deactivated or sold out since the snapshot was taken is dropped here: its row
    is read fresh.
    """
    pks = [int(catalog.pks[p.row]) for p in picks]
    pks += [int(catalog.pks[p.because_row]) for p in picks if p.because_row >= 0]
    cards = product_cards(pks)
    items = []
    for pick in picks:
        card = cards.get(int(catalog.pks[pick.row]))
        if card is None or not card.in_stock or not card.is_active:
            continue
        reason = pick.reason
        if reason is None:
            because = cards.get(int(catalog.pks[pick.because_row]))
            reason = (
                reasons.because(kind=pick.because_kind, title=because.title)
                if because is not None
                else reasons.personal()
            )
        items.append(
            Recommendation(product=card, score=pick.score, reason=reason, source=pick.source)
        )
    return items


def models_key(models: dict[str, ServingModel]) -> tuple:
    return tuple(sorted((name, m.version_id) for name, m in models.items()))


def version_info(model: ServingModel | None) -> dict | None:
    if model is None:
        return None
    return {"algorithm": model.algorithm, "version": model.version_id, "uuid": model.uuid}
