"""An experiment's results: per variant, from its impressions and its shoppers' events under
the attribution rules of ``recommender.proof.attribution``; the statistics are ``stats``'.

Per variant: exposed shoppers (named shoppers shown the placement in that variant; anonymous
visitors are served the control and not counted), impressions, shoppers who clicked, shoppers
who bought through a click, attributed revenue per shopper, and shop revenue per shopper (every
purchase after the shopper's first exposure, up to the end of the test: the figure a holdout
compares on, as it earns no attributed revenue by design). Revenue is price x quantity at the
product's current price, as the KPIs take it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings

from behavior.models import Event, EventKind, Shopper
from catalog.models import Product
from placements.experiments.models import Experiment, Metric, Variant
from placements.experiments.stats import (
    Comparison,
    RatioCheck,
    Sums,
    Verdict,
    compare_means,
    compare_rates,
    decide,
    sample_ratio_check,
)
from recommender.models import Impression
from recommender.proof.attribution import Act, Shown, click_of, credit

INTERVAL_ALPHA = 0.05  # intervals shown at 95 %; the decision uses the test's own alpha


@dataclass
class VariantFigures:
    variant: Variant
    impressions: int = 0
    exposed: set[str] = field(default_factory=set)
    clicked: set[str] = field(default_factory=set)
    converted: set[str] = field(default_factory=set)
    revenue: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    shop_revenue: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @property
    def exposures(self) -> int:
        return len(self.exposed)

    def value(self, metric: str) -> tuple[int, int] | Sums:
        """The metric's input to ``stats``: (successes, shoppers) for a rate, else Sums."""
        if metric == Metric.CTR:
            return (len(self.clicked), self.exposures)
        if metric == Metric.CONVERSION:
            return (len(self.converted), self.exposures)
        per = self.revenue if metric == Metric.REVENUE else self.shop_revenue
        return Sums(self.exposures, sum(per.values()), sum(v * v for v in per.values()))

    def estimate(self, metric: str) -> float | None:
        found = self.value(metric)
        if isinstance(found, Sums):
            return found.mean if found.n else None
        return found[0] / found[1] if found[1] else None


@dataclass(frozen=True)
class MetricResult:
    metric: str
    label: str
    estimates: list[float | None]  # per variant, the control first
    comparisons: list[Comparison | None]  # per challenger, against the control


@dataclass(frozen=True)
class Results:
    experiment: Experiment
    figures: list[VariantFigures]
    primary: MetricResult
    guardrails: list[MetricResult]
    ratio_check: RatioCheck | None
    verdict: Verdict

    @property
    def progress(self) -> float:
        """The smallest variant's shoppers over the planned sample (1 = reached)."""
        planned = self.experiment.planned_sample
        least = min((f.exposures for f in self.figures), default=0)
        return min(1.0, least / planned) if planned else 0.0

    @property
    def winner(self) -> Variant | None:
        if self.verdict.index is None:
            return None
        return self.figures[self.verdict.index].variant


def experiment_results(*, experiment: Experiment, now: datetime) -> Results:
    """The experiment's figures and statistics as of ``now`` (or its stop)."""
    variants = list(experiment.variants.order_by("position"))
    figures = [VariantFigures(variant) for variant in variants]
    if experiment.started_at is not None:
        _tally(experiment, figures, end=experiment.stopped_at or now)
    primary = _metric_result(experiment.primary_metric, figures)
    # The p-values decide (against the test's alpha); the intervals' level only shows.
    verdict = decide(
        primary.comparisons,
        exposures=[f.exposures for f in figures],
        planned=experiment.planned_sample,
        alpha=experiment.alpha,
    )
    return Results(
        experiment=experiment,
        figures=figures,
        primary=primary,
        guardrails=[_metric_result(m, figures) for m in experiment.guardrails or []],
        ratio_check=sample_ratio_check(
            exposures=[f.exposures for f in figures], weights=[v.weight for v in variants]
        ),
        verdict=verdict,
    )


def _metric_result(metric: str, figures: list[VariantFigures]) -> MetricResult:
    control = figures[0].value(metric)
    comparisons = []
    for challenger in figures[1:]:
        other = challenger.value(metric)
        if isinstance(control, Sums):
            comparisons.append(
                compare_means(control=control, challenger=other, alpha=INTERVAL_ALPHA)
            )
        else:
            comparisons.append(
                compare_rates(control=control, challenger=other, alpha=INTERVAL_ALPHA)
            )
    return MetricResult(
        metric=metric,
        label=Metric(metric).label,
        estimates=[f.estimate(metric) for f in figures],
        comparisons=comparisons,
    )


def _tally(experiment: Experiment, figures: list[VariantFigures], *, end: datetime) -> None:
    window = timedelta(hours=settings.SHELFWISE_ATTRIBUTION_HOURS)
    by_key = {f.variant.key: f for f in figures}
    shown: dict = {}
    first_seen: dict[str, datetime] = {}
    rows = Impression.objects.filter(
        placement=experiment.placement.name, variant__in=list(by_key)
    ).values_list("recommendation_id", "variant", "shopper", "items", "shown_at")
    for rec_id, key, shopper, items, shown_at in rows.iterator():
        figure = by_key[key]
        figure.impressions += 1
        if not shopper:
            continue
        figure.exposed.add(shopper)
        first_seen[shopper] = min(shown_at, first_seen.get(shopper, shown_at))
        shown[rec_id] = Shown(rec_id, (key, "", ""), shopper, frozenset(items), shown_at)
    external = dict(
        Shopper.objects.filter(external_id__in=list(first_seen)).values_list("pk", "external_id")
    )
    events = (
        Event.objects.filter(
            shopper_id__in=list(external),
            occurred_at__gte=experiment.started_at,
            occurred_at__lte=end + window,
            kind__in=(EventKind.VIEW, EventKind.ADD_TO_CART, EventKind.PURCHASE),
        )
        .exclude(product__isnull=True)
        .order_by()
        .values_list(
            "kind", "shopper_id", "product_id", "occurred_at", "recommendation_id", "value"
        )
    )
    acts = [Act(*row) for row in events]
    prices = dict(
        Product.objects.filter(pk__in={a.product_id for a in acts}).values_list("pk", "price")
    )
    clicks_of: dict[int, list[Act]] = defaultdict(list)
    seen_by: dict[str, list[Shown]] = defaultdict(list)
    for s in shown.values():
        seen_by[s.shopper].append(s)
    for act in acts:
        named = click_of(act, shown=shown)
        if named is not None:
            by_key[named.key[0]].clicked.add(named.shopper)
            clicks_of[act.shopper_id].append(act)
    for act in acts:
        if act.kind != EventKind.PURCHASE:
            continue
        shopper = external[act.shopper_id]
        revenue = float(prices.get(act.product_id) or Decimal(0)) * act.value
        mine = [f for f in figures if shopper in f.exposed][:1]  # assignment is sticky: one
        if mine and first_seen[shopper] <= act.occurred_at <= end:
            mine[0].shop_revenue[shopper] += revenue
        got = credit(
            act,
            shown=shown,
            touches=clicks_of[act.shopper_id],
            seen_by_shopper=seen_by[shopper],
            shopper=shopper,
            window=window,
        )
        if got is not None and got.through == "click":
            figure = by_key[got.shown.key[0]]
            figure.converted.add(shopper)
            figure.revenue[shopper] += revenue
