"""The one way to serve a slot: ``recommend``, called by the API, the dashboard (its shopper
pages and the cold-start preview), the demo check and the replay evaluator.

A request costs one query for the shopper (with their interests and event version), one Redis
round trip for everything else it reads (latest events, catalog version, purchase history,
cached response), and, on a cache miss, the cards of products this process has not seen yet.
The models are chosen once here and handed to ranking.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings

from behavior.realtime import shopper_state
from behavior.selectors import shopper_facts
from catalog.versioning import VERSION_KEY
from recommender.serving.cache import digest_of, fresh_entry, slot_entry_name, store_entries
from recommender.serving.catalog_state import catalog_at, current_catalog
from recommender.serving.clock import replay_cutoff
from recommender.serving.model_cache import (
    ServingModel,
    champion_models,
    content_model,
    models_key,
    personal_model,
    popularity_model,
    version_info,
)
from recommender.serving.purchases import PURCHASES_SECONDS, purchase_history, purchases_entry_name
from recommender.serving.realtime import shopper_profile
from recommender.serving.registry import get_slot, slot_names
from recommender.serving.repeat_model import RepeatServing, current_repeat_model
from recommender.serving.results import Recommendations, render
from recommender.serving.rules import InvalidRequest, checked_k
from recommender.serving.slots import ShopperInfo, Slot, SlotContext, empty_reason, rank_slot

if TYPE_CHECKING:
    from behavior.models import Shopper


def recommend(
    *,
    shopper: Shopper | str | ShopperInfo,
    slot: str,
    k: int,
    now: datetime,
    country: str = "",
    models: dict[str, ServingModel] | None = None,
    serving_model: str | None = None,
    read: ShopperInfo | None = None,
    repeat: RepeatServing | None = None,
    exclude: frozenset[int] | set[int] = frozenset(),
) -> Recommendations:
    """The slot's best ``k`` products for the shopper, reflecting every event stored before now.

    ``shopper`` is a Shopper or an external id; an unknown id gets the cold-start list (trending
    in ``country`` when given); a ``ShopperInfo`` is a shopper as described (the dashboard's
    preview of a brand-new one), answered without the response cache. Raises ``InvalidRequest``
    for an unknown slot or k out of range. A past ``now`` (``clock.replay_cutoff``) sees only
    events that occurred before it; ``models`` (a replay's scratch models) replace the
    champions. Either bypasses the response and purchase caches, so nothing computed here
    answers a live request. ``serving_model`` pins the algorithm behind "for you" (a replay's
    forced variants; the API leaves it to ``SHELFWISE_SERVING_MODEL``). ``read`` is the
    shopper as the caller already read them with ``shopper_info`` for this request (a
    placement asks several slots for one shopper): served as ``shopper`` would be, one query
    fewer. ``repeat`` (a replay's scratch buy-again model) replaces the serving one when
    ``models`` are given. ``exclude`` (product pks) is never served, on top of what the slot
    excludes itself: a placement's exclusions, so its pool holds k fresh products (such an
    answer is per request and skips the response cache).
    """
    declared = _declared(slot)
    k = checked_k(k)
    described = isinstance(shopper, ShopperInfo)
    if read is not None:
        info = read
    else:
        info = shopper if described else shopper_info(shopper=shopper, country=country)
    before = replay_cutoff(now)
    replaying = before is not None or models is not None
    per_request = replaying or described or bool(exclude)
    response_seconds = 0 if per_request else settings.SHELFWISE_RESPONSE_CACHE_SECONDS
    entry_name = slot_entry_name(slot, k, info.pk, info.external_id, country)
    purchases_name = purchases_entry_name(info.pk)
    names = [VERSION_KEY, purchases_name] + ([entry_name] if response_seconds else [])
    # The events version comes from the shopper's row, not Redis: a stored event moves it even
    # when the after-commit Redis update was lost, so no cache below can outlive it.
    state = shopper_state(
        shopper_id=info.pk, version=info.events_version, entries=names, before=before
    )
    # A past clock is served the catalogue as it stood then (today's for a live request).
    catalog = catalog_at(current_catalog(bumped=str(state.entries[VERSION_KEY] or 0)), now=now)
    if models is None:
        models = champion_models()
        repeat = current_repeat_model()  # its path was read with the champions, in one query
    personal = personal_model(models, wanted=serving_model)
    digest = digest_of(
        "recommendations",
        slot,
        k,
        info,
        state.version,
        catalog.version,
        models_key(models),
        declared.cache_key(catalog, now),
        serving_model or settings.SHELFWISE_SERVING_MODEL,
        settings.SHELFWISE_DIVERSITY_MAX_SHARE,
        settings.SHELFWISE_BUY_AGAIN_HALF_LIFE_DAYS,
        repeat.source if repeat else "",
    )
    hit = fresh_entry(state.entries.get(entry_name), digest) if response_seconds else None
    if hit is not None:
        return hit.from_cache()
    purchases, purchases_entry = purchase_history(
        shopper_id=info.pk,
        catalog=catalog,
        version=state.version,
        cached=None if replaying else state.entries[purchases_name],
        before=before,
        now=now,
        # Every slot: the purchase history (shared by a page's slots) is decayed at its half-life.
        half_life_days=repeat.model.half_life_days if repeat else None,
    )
    context = SlotContext(
        catalog=catalog,
        shopper=info,
        profile=shopper_profile(
            events=state.events,
            catalog=catalog,
            # Live rows weighed as the served model was tuned to be scored from, per shop.
            half_life_hours=personal.realtime_half_life_hours if personal else None,
            log1p=personal.realtime_row_log1p if personal else False,
        ),
        personal=personal,
        popular=popularity_model(models),
        content=content_model(models),
        purchases=purchases,
        now=now,
        k=k,
        before=before,
        repeat=repeat,
        excluded_rows=catalog.rows_of(np.fromiter(exclude, dtype=np.int64)) if exclude else None,
    )
    picks = rank_slot(context, declared)
    result = Recommendations(
        slot=slot,
        items=render(picks, catalog=catalog),
        shopper={"external_id": info.external_id, "known": info.known},
        model_version=version_info(personal),
        generated_at=now,
        empty_reason=empty_reason(context, declared, picks),
    )
    writes = {}
    if response_seconds:
        writes[entry_name] = ((digest, result), response_seconds)
    if purchases_entry is not None and not replaying:
        writes[purchases_name] = (purchases_entry, PURCHASES_SECONDS)
    store_entries(writes)
    return result


def shopper_info(*, shopper: Shopper | str, country: str = "") -> ShopperInfo:
    """What ranking needs to know about the shopper, interests included, in one query."""
    by_id = not isinstance(shopper, str)
    facts = shopper_facts(pk=shopper.pk) if by_id else shopper_facts(external_id=shopper)
    if facts is None:
        external_id = shopper.external_id if by_id else shopper
        return ShopperInfo(pk=None, external_id=external_id, country=country)
    return ShopperInfo(
        pk=facts.pk,
        external_id=facts.external_id,
        country=facts.country or country,
        segment=facts.segment,
        points_balance=facts.points_balance,
        interests=facts.interests,
        events_version=facts.events_version,
    )


def _declared(slot: str) -> Slot:
    declared = get_slot(slot)
    if declared is None:
        names = ", ".join(slot_names())
        raise InvalidRequest("slot", f"Unknown slot {slot!r}; one of {names}.")
    return declared
