"""One day's KPI figures computed by set-based SQL on PostgreSQL.

The same attribution as ``recommender.proof.attribution`` (and ``kpi_python``, which a test
holds this to), in a few statements inside the caller's transaction:

1. ``kpi_acts``: the day's views carrying an id, and its carts and purchases, with their
   revenue (price x quantity to the cent) and the response the id they carry names, if served
   (its key and rules copied, so no summary joins the impressions table again);
2. ``kpi_credits``: each cart or purchase with the response it counts for. Carrying a served
   id: that response, when within the window after it was shown. Without one: the response of
   the shopper's latest click on the product in the window before it (``DISTINCT ON``, the last
   touch) and, for a purchase no click explains, the latest response that showed the product
   to the shopper in the window (view-through);
3. the figures per placement, variant and model version; 4. per rule, on the items each rule
   placed or boosted (``Impression.rules``); 5. the shop's revenue and unattributable events.

Only the few summary rows come back to Python; ``bench/kpis.py`` measures it at 10 million
impressions.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection

from behavior.models import Event, Shopper
from catalog.models import Product
from recommender.models import Impression
from recommender.proof.attribution import Key
from recommender.proof.figures import DayFigures, RuleTally, Tally

TABLES = {
    "event": Event._meta.db_table,
    "shopper": Shopper._meta.db_table,
    "product": Product._meta.db_table,
    "impression": Impression._meta.db_table,
}

ACTS = """
CREATE TEMP TABLE kpi_acts ON COMMIT DROP AS
SELECT e.id, e.kind, e.shopper_id, e.product_id, e.occurred_at, e.recommendation_id,
       round(coalesce(p.price, 0) * e.value::numeric, 2) AS revenue,
       i.recommendation_id IS NOT NULL AS known,
       i.placement, i.variant, i.model_version, i.rules
FROM {event} e
LEFT JOIN {product} p ON p.id = e.product_id
LEFT JOIN {impression} i ON i.recommendation_id = e.recommendation_id
WHERE e.occurred_at >= %(start)s AND e.occurred_at < %(end)s
  AND e.kind IN ('view', 'add_to_cart', 'purchase') AND e.product_id IS NOT NULL
  AND (e.recommendation_id IS NOT NULL OR e.kind <> 'view')
"""

CREDITS = """
CREATE TEMP TABLE kpi_credits ON COMMIT DROP AS
WITH named AS (
    SELECT b.id, b.kind, b.product_id, b.revenue, i.recommendation_id AS shown_id,
           'click' AS through, i.placement, i.variant, i.model_version, i.rules
    FROM kpi_acts b JOIN {impression} i ON i.recommendation_id = b.recommendation_id
    WHERE b.known AND b.kind <> 'view'
      AND b.occurred_at BETWEEN i.shown_at AND i.shown_at + %(window)s
),
clicked AS (
    SELECT DISTINCT ON (b.id) b.id, b.kind, b.product_id, b.revenue,
           t.recommendation_id AS shown_id, 'click' AS through,
           i.placement, i.variant, i.model_version, i.rules
    FROM kpi_acts b
    JOIN {event} t ON t.shopper_id = b.shopper_id AND t.product_id = b.product_id
     AND t.recommendation_id IS NOT NULL
     AND t.occurred_at BETWEEN b.occurred_at - %(window)s AND b.occurred_at
     AND t.occurred_at >= %(start)s - %(window)s AND t.occurred_at < %(end)s
    JOIN {impression} i ON i.recommendation_id = t.recommendation_id
    WHERE b.recommendation_id IS NULL AND b.kind <> 'view'
    ORDER BY b.id, t.occurred_at DESC
)
SELECT * FROM named UNION ALL SELECT * FROM clicked
"""

# Apart, after the clicks are in (and analysed): "no click explains it" is then a hash anti
# join; as one more CTE it was a nested loop, 2.4 s for 1,700 purchases.
VIEW_THROUGH = """
INSERT INTO kpi_credits
SELECT DISTINCT ON (b.id) b.id, b.kind, b.product_id, b.revenue,
       i.recommendation_id AS shown_id, 'view' AS through,
       i.placement, i.variant, i.model_version, i.rules
FROM kpi_acts b
JOIN {shopper} s ON s.id = b.shopper_id
JOIN {impression} i ON i.shopper = s.external_id
 AND i.shown_at BETWEEN b.occurred_at - %(window)s AND b.occurred_at
 AND i.items @> to_jsonb(b.product_id)
WHERE b.recommendation_id IS NULL AND b.kind = 'purchase'
  AND NOT EXISTS (SELECT 1 FROM kpi_credits c WHERE c.id = b.id)
ORDER BY b.id, i.shown_at DESC
"""

# The credit columns both summaries share: carts, click purchases and revenue, view-through.
COUNTS = """
    count(*) FILTER (WHERE c.kind = 'add_to_cart') AS carts,
    count(*) FILTER (WHERE c.kind = 'purchase' AND c.through = 'click') AS purchases,
    coalesce(sum(c.revenue) FILTER (WHERE c.kind = 'purchase' AND c.through = 'click'), 0)
        AS revenue,
    count(*) FILTER (WHERE c.through = 'view') AS view_through_purchases,
    coalesce(sum(c.revenue) FILTER (WHERE c.through = 'view'), 0) AS view_through_revenue
"""

PER_KEY = """
WITH shown AS (
    SELECT placement, variant, model_version, count(*) AS impressions
    FROM {impression} WHERE shown_at >= %(start)s AND shown_at < %(end)s
    GROUP BY 1, 2, 3
),
clicks AS (
    SELECT placement, variant, model_version,
           count(DISTINCT (recommendation_id, product_id)) AS clicks
    FROM kpi_acts WHERE known
    GROUP BY 1, 2, 3
),
credits AS (
    SELECT placement, variant, model_version, {counts}
    FROM kpi_credits c
    GROUP BY 1, 2, 3
)
SELECT placement, variant, model_version, coalesce(impressions, 0), coalesce(clicks, 0),
       coalesce(carts, 0), coalesce(purchases, 0), coalesce(revenue, 0),
       coalesce(view_through_purchases, 0), coalesce(view_through_revenue, 0)
FROM shown
FULL JOIN clicks USING (placement, variant, model_version)
FULL JOIN credits USING (placement, variant, model_version)
"""

PER_RULE = """
WITH shown AS (
    SELECT r.key::bigint AS rule_id, min(i.placement) AS placement, count(*) AS impressions
    FROM {impression} i CROSS JOIN jsonb_object_keys(i.rules) AS r(key)
    WHERE i.shown_at >= %(start)s AND i.shown_at < %(end)s AND NOT (i.rules = '{{}}'::jsonb)
    GROUP BY 1
),
clicks AS (
    SELECT r.key::bigint AS rule_id, min(a.placement) AS placement,
           count(DISTINCT (a.recommendation_id, a.product_id)) AS clicks
    FROM kpi_acts a CROSS JOIN jsonb_each(a.rules) AS r(key, items)
    WHERE a.known AND a.rules <> '{{}}'::jsonb AND r.items @> to_jsonb(a.product_id)
    GROUP BY 1
),
credits AS (
    SELECT r.key::bigint AS rule_id, min(c.placement) AS placement, {counts}
    FROM kpi_credits c CROSS JOIN jsonb_each(c.rules) AS r(key, items)
    WHERE c.through = 'click' AND c.rules <> '{{}}'::jsonb
      AND r.items @> to_jsonb(c.product_id)
    GROUP BY 1
)
SELECT rule_id, coalesce(shown.placement, clicks.placement, credits.placement),
       coalesce(impressions, 0), coalesce(clicks, 0), coalesce(carts, 0),
       coalesce(purchases, 0), coalesce(revenue, 0)
FROM shown FULL JOIN clicks USING (rule_id) FULL JOIN credits USING (rule_id)
"""

SHOP = """
SELECT coalesce(sum(revenue) FILTER (WHERE kind = 'purchase'), 0),
       count(*) FILTER (WHERE recommendation_id IS NOT NULL AND NOT known)
FROM kpi_acts
"""


def day_figures_in_sql(*, start: datetime, end: datetime, window: timedelta) -> DayFigures:
    """The figures of the acts and impressions in ``[start, end)``; call inside a transaction
    (the work tables drop on commit)."""
    params = {"start": start, "end": end, "window": window}
    figures = DayFigures(tallies=defaultdict(Tally), rules=defaultdict(RuleTally))
    with connection.cursor() as cursor:
        # Inside a savepoint (a test, or a caller's own transaction) the last day's work
        # tables may still be there: ON COMMIT only drops them at the outer commit.
        cursor.execute("DROP TABLE IF EXISTS kpi_acts, kpi_credits")
        # JIT compiled these few-thousand-row joins for longer than they ran (165 ms of 2.2 s
        # for the clicks at 10M impressions, EXPLAIN ANALYZE).
        cursor.execute("SET LOCAL jit = off")
        # Each work table analysed before it is joined: the planner then looks its few
        # thousand ids up by key instead of hashing the whole impressions table.
        # (the columns the joins filter on: a whole-table ANALYZE read the jsonb for 0.5 s).
        cursor.execute(ACTS.format(**TABLES), params)
        cursor.execute("ANALYZE kpi_acts (kind, known, recommendation_id, shopper_id)")
        cursor.execute(CREDITS.format(**TABLES), params)
        cursor.execute("ANALYZE kpi_credits (id)")
        cursor.execute(VIEW_THROUGH.format(**TABLES), params)
        cursor.execute(PER_KEY.format(counts=COUNTS, **TABLES), params)
        for placement, variant, model, *counts in cursor.fetchall():
            key: Key = (placement, variant, model)
            figures.tallies[key] = Tally(*counts)
        cursor.execute(PER_RULE.format(counts=COUNTS, **TABLES), params)
        for rule_id, placement, impressions, clicks, carts, purchases, revenue in cursor.fetchall():
            figures.rules[int(rule_id)] = RuleTally(
                impressions=impressions,
                clicks=clicks,
                carts=carts,
                purchases=purchases,
                revenue=revenue,
                placement=placement,
            )
        cursor.execute(SHOP)
        shop_revenue, unattributable = cursor.fetchone()
    figures.shop_revenue = Decimal(shop_revenue)
    figures.unattributable = unattributable
    return figures
