"""Real-time serving: slots, business rules, reasons and response caching.

Stable entry points (the dashboard and the API call these; keep their signatures):

``recommendations_for(*, shopper, slot, k, now, country="") -> Recommendations``
    ``shopper`` is a ``behavior.models.Shopper`` or an external id (unknown ids get the
    cold-start list); ``slot`` one of ``SLOTS``; ``k`` ≤ ``settings.SHELFWISE_MAX_K``.
    ``Recommendations.items`` is a list of ``Recommendation(product: ProductCard, score: float,
    reason: Reason(code, text), source: str)``; ``Recommendations.as_dict()`` is the API body.

``similar_products(*, sku, k, now)`` and ``bought_together(*, sku, k, now)``
    Same result type, for a product page; raise ``ProductNotFound`` for an unknown sku.
"""
