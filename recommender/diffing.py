"""Before/after of a recommendation list, for the dashboard's real-time proof."""

from __future__ import annotations

from recommender.serving.results import Recommendation


def compare_lists(*, before: list[Recommendation], after: list[Recommendation]) -> dict:
    """Each item of both lists marked new / up / down / same / dropped, and whether any changed.

    A product's position is compared by sku: "up 2" means it is two places higher after.
    """
    was = {item.product.sku: position for position, item in enumerate(before)}
    now = {item.product.sku: position for position, item in enumerate(after)}
    after_rows = []
    for position, item in enumerate(after):
        old = was.get(item.product.sku)
        if old is None:
            change, label = "new", "new"
        elif old > position:
            change, label = "up", f"up {old - position}"
        elif old < position:
            change, label = "down", f"down {position - old}"
        else:
            change, label = "same", ""
        after_rows.append({"item": item, "change": change, "label": label})
    before_rows = [
        {"item": item, "change": "dropped" if item.product.sku not in now else "kept"}
        for item in before
    ]
    changed = any(row["change"] != "same" for row in after_rows) or len(before) != len(after)
    return {"before": before_rows, "after": after_rows, "changed": changed}
