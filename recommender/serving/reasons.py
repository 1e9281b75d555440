"""Why an item is on the list: a machine code for the client and a sentence for the shopper."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils.timezone import localtime

from behavior.kinds import EVENT_KINDS


@dataclass(frozen=True)
class Reason:
    code: str
    text: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "text": self.text}


def because(*, kind: str, title: str) -> Reason:
    # What the shopper did, in the words of "because you … X" (behavior/kinds.py).
    verb = EVENT_KINDS[kind].verb if kind in EVENT_KINDS else "viewed"
    return Reason(f"because_you_{kind}", f"because you {verb} {title}")


def because_searched(*, query: str) -> Reason:
    return Reason("search", f'because you searched for "{query}"')


def personal() -> Reason:
    """A personalised pick no single product of the shopper's explains (none carries
    ``SHELFWISE_REASON_MIN_SHARE`` of its score): true of every pick of a personalised model."""
    return Reason("personal", "picked for you from what you browsed")


def trending_in(*, country: str) -> Reason:
    return Reason("trending_in_country", f"trending in {country}")


def popular_in_segment(*, segment: str) -> Reason:
    return Reason("popular_in_segment", f"popular with {segment} shoppers")


def popular_in_interest(*, category: str) -> Reason:
    return Reason("popular_in_interest", f"popular in {category}, which you follow")


def popular() -> Reason:
    return Reason("popular", "popular right now")


def best_sellers(algorithm: str) -> Reason:
    """ "For you" served by a non-personalised champion (it beat the personalised ones)."""
    if algorithm == "trending":
        return Reason("popular", "popular right now")
    return Reason("popular", "one of the shop's most popular products")


def new_arrival(*, category: str | None) -> Reason:
    """Only for a product inside the new-arrivals window (SHELFWISE_NEW_ARRIVALS_DAYS)."""
    where = f" in {category}" if category else ""
    return Reason("new_arrival", f"new{where}")


def added_on(*, added: datetime, category: str | None) -> Reason:
    """A newest-first pick older than the new-arrivals window: its date, never "new"."""
    where = f" to {category}" if category else ""
    return Reason("added_on", f"added{where} on {localtime(added):%-d %b %Y}")


def promotion(*, discount_percent: float, ends_at: datetime) -> Reason:
    discount = f"{discount_percent:g}"
    # Shown in the shop's time zone: a promotion ending at midnight local time ends "30 Nov".
    return Reason("promotion", f"{discount} % off until {localtime(ends_at):%-d %b}")


def points(*, points_price: int) -> Reason:
    unit = "point" if points_price == 1 else "points"
    return Reason("points", f"you can redeem it with {points_price:,} {unit}")


def buy_again(*, times: int, last: datetime) -> Reason:
    count = "once" if times == 1 else "twice" if times == 2 else f"{times} times"
    return Reason("buy_again", f"you bought it {count}, last on {last:%-d %b %Y}")


def bought_again_by_shoppers_like_you() -> Reason:
    """Buy again's neighbour part (TIFU-KNN): shoppers whose purchases resemble this one's
    buy it repeatedly; the shopper has not bought it."""
    return Reason("repeat_neighbours", "shoppers who buy what you buy come back for it")


def no_purchases() -> Reason:
    """Why "buy again" is empty for a shopper who never bought anything."""
    return Reason("no_purchases", "No purchases yet, so nothing to buy again.")


def nothing_to_buy_again() -> Reason:
    """Why "buy again" is empty when everything the shopper bought is unavailable now."""
    return Reason("nothing_available", "Nothing bought before is available right now.")


def similar_to(*, title: str) -> Reason:
    """A behavioural neighbour: the same shoppers chose both."""
    return Reason("similar", f"chosen by the same shoppers as {title}")


def similar_content(*, title: str, same_category: bool, similar_text: bool = False) -> Reason:
    """A content neighbour: close in description, category, brand or price (says which)."""
    if same_category and similar_text:
        text = f"same category as {title}, similar description"
    elif similar_text:
        text = f"similar description to {title}"
    elif same_category:
        text = f"same category as {title}"
    else:
        text = f"similar brand and price to {title}"
    return Reason("similar_content", text)


def bought_together(*, title: str, orders: int) -> Reason:
    """Both products purchased in the same ``orders`` (shared order ids)."""
    count = "1 order" if orders == 1 else f"{orders:,} orders"
    return Reason("bought_together", f"bought with {title} in {count}")


def browsed_together(*, title: str, sessions: int) -> Reason:
    """Both products in the same shopper's ``sessions`` without an order: browsing, not buying."""
    count = "1 session" if sessions == 1 else f"{sessions:,} sessions"
    return Reason("browsed_together", f"browsed with {title} in {count}")
