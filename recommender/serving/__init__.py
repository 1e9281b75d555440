"""Real-time serving: slots, business rules, reasons and response caching.

Entry points (the API, the dashboard, the demo check and the replay evaluator call these):

``service.recommend(*, shopper, slot, k, now, country="", models=None) -> Recommendations``
    ``shopper`` is a ``behavior.models.Shopper`` or an external id (unknown ids get the
    cold-start list); ``slot`` one of ``registry.slot_names()``; ``k`` ≤ ``SHELFWISE_MAX_K``.
    ``Recommendations.items`` is a list of ``Recommendation(product: ProductCard, score: float,
    reason: Reason(code, text), source: str)``; ``Recommendations.as_dict()`` is the API body.

``products.similar_products(*, sku, k, now)`` and ``products.bought_together(*, sku, k, now)``
    Same result type, for a product page; raise ``ProductNotFound`` for an unknown sku.

A slot is declared once in ``registry`` (its mask, stages, reason, title, keys) with its stages
in ``stages``; ``slots.rank_slot`` walks them.
"""
