"""Every slot, declared once: what the API serves and validates, the dashboard shows, the demo
check asks for and the docs list. Adding a slot is one ``register(Slot(...))`` here and, when
no existing one fits, its stage in ``stages``.
"""

from __future__ import annotations

from recommender.serving import stages
from recommender.serving.slots import Slot

# The cold-start chain: behind every personal list, and all a stranger gets.
COLD_START = (stages.country, stages.segment, stages.interests, stages.popular, stages.newest)

# What ``service.recommend`` can build a slot's context from (a product page's lists are
# ``products.py``'s, not slots).
SERVED_CONTEXTS = frozenset({"shopper"})

_SLOTS: dict[str, Slot] = {}


def register(slot: Slot) -> Slot:
    """Add ``slot`` to the registry (served from now on); its name must be new."""
    if slot.name in _SLOTS:
        raise ValueError(f"slot {slot.name!r} is already registered")
    if not slot.context <= SERVED_CONTEXTS:
        unknown = ", ".join(sorted(slot.context - SERVED_CONTEXTS))
        raise ValueError(f"slot {slot.name!r} needs a context serving cannot build: {unknown}")
    _SLOTS[slot.name] = slot
    return slot


def unregister(name: str) -> None:
    """Remove a slot (tests that register one of their own)."""
    _SLOTS.pop(name, None)


def get_slot(name: str) -> Slot | None:
    return _SLOTS.get(name)


def all_slots() -> tuple[Slot, ...]:
    """The registered slots, in declaration order."""
    return tuple(_SLOTS.values())


def slot_names() -> tuple[str, ...]:
    return tuple(_SLOTS)


def shopper_page_slots() -> tuple[Slot, ...]:
    """The slots the dashboard's shopper page places (new arrivals show on the cold-start page)."""
    return tuple(slot for slot in _SLOTS.values() if slot.on_shopper_page)


register(
    Slot(
        name="for_you",
        title="For you",
        mask=stages.unseen,
        stages=(stages.personal, *COLD_START),
    )
)
register(
    Slot(
        name="promotions",
        title="Promotions",
        mask=stages.promoted,
        stages=(stages.personal, *COLD_START),
        reason_for=stages.promotion_reasons,
        cache_key=stages.active_promotion_ids,
    )
)
register(
    Slot(
        name="points",
        title="Points redemption",
        mask=stages.redeemable,
        stages=(stages.personal, *COLD_START),
        reason_for=stages.points_reasons,
        may_be_empty=True,  # a shopper without points can redeem nothing
    )
)
register(
    Slot(name="trending", title="Trending / cold start", mask=stages.unbought, stages=COLD_START)
)
# New arrivals are products added inside the window, whatever their rank: they have no behaviour
# a model could use, so shoppers with history get them by content similarity to their recent
# items, everyone else newest first. The "newest N" regardless of age served 200-day-old
# products as "new"; older products now only fill a list the window cannot, dated rather than
# called new.
register(
    Slot(
        name="new_arrivals",
        title="New arrivals",
        mask=stages.unbought,
        stages=(
            stages.fresh_only(stages.new_for_you),
            stages.fresh_only(stages.newest),
            stages.older_arrivals,
        ),
        reason_for=stages.arrival_reasons,
        on_shopper_page=False,
    )
)
# Repeat purchases only: trending items under "buy again" told a shopper who never bought
# anything that they had (``empty_reason`` says why the list is empty instead).
register(
    Slot(
        name="buy_again",
        title="Buy again",
        mask=stages.available,
        stages=(stages.bought_before,),
        may_be_empty=True,
        empty_reason=stages.why_nothing_to_buy_again,
    )
)
