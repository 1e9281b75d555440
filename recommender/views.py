"""Dashboard pages that show recommendations or models: overview, a shopper and the real-time
simulation, a product, promotions and points, cold start, models and training.

Thin function views: the staff gate, a form or two, selectors and services, a template.
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from behavior import dashboard_selectors as shopper_selectors
from behavior.countries import country_name
from behavior.permissions import EVENT_PERMISSION
from behavior.services import STORED, ingest_events
from catalog import dashboard_selectors as catalog_selectors
from config.dashboard import page_of, query_without_page, require_permission, staff_page
from config.storable import unstorable
from recommender import dashboard_selectors as selectors
from recommender.diffing import compare_lists
from recommender.forms import CompareForm, ShopperPickForm, SimulateEventForm
from recommender.impressions import impressions_of
from recommender.models import ModelVersion, TrainingRun
from recommender.permissions import PROMOTE_PERMISSION, TRAIN_PERMISSION
from recommender.selectors import champion_version, model_versions, training_runs
from recommender.serving.products import bought_together, similar_products
from recommender.serving.registry import shopper_page_slots
from recommender.serving.service import recommend
from recommender.training.promotion import PromotionError, promote_version, rollback
from recommender.training.services import (
    BrokerUnavailable,
    TrainingAlreadyRunning,
    UnknownAlgorithm,
    start_training,
)

SLOT_K = 6
PRODUCT_K = 8
PREVIEW_K = 5


@staff_page
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    context = selectors.overview(now=timezone.now())
    return render(request, "recommender/overview.html", context)


# -- shoppers ---------------------------------------------------------------------------------
@staff_page
@require_GET
def shopper_detail(request: HttpRequest, external_id: str) -> HttpResponse:
    shopper = _shopper_or_404(external_id)
    context = {**_shopper_context(shopper), "can_simulate": request.user.has_perm(EVENT_PERMISSION)}
    return render(request, "recommender/shopper_detail.html", context)


@staff_page
@require_POST
def simulate_event(request: HttpRequest, external_id: str) -> HttpResponse:
    """Store one event exactly as the events API does, and show "for you" before and after."""
    require_permission(request, EVENT_PERMISSION)
    shopper = _shopper_or_404(external_id)
    form = SimulateEventForm(request.POST)
    result, after = None, None
    if form.is_valid():
        before = recommend(shopper=shopper, slot="for_you", k=SLOT_K, now=timezone.now())
        outcome = ingest_events(
            events=[
                {
                    "event_id": f"dashboard-{uuid.uuid4()}",
                    "shopper": shopper.external_id,
                    "product": form.cleaned_data["sku"],
                    "kind": form.cleaned_data["kind"],
                    "session_id": f"dashboard-{request.user.pk}",
                }
            ],
            create_unknown_shoppers=False,
        )
        if outcome.statuses != [STORED]:
            form.add_error(None, f"The event was not stored: {outcome.errors.get(0, outcome)}.")
        else:
            after = recommend(shopper=shopper, slot="for_you", k=SLOT_K, now=timezone.now())
            result = compare_lists(before=before.items, after=after.items)
            result["event"] = form.cleaned_data
            form = SimulateEventForm(initial={"kind": form.cleaned_data["kind"]})
    status = 200 if result is not None else 400
    if request.htmx:
        context = {
            "shopper": shopper,
            "can_simulate": True,
            "form": form,
            "simulation": result,
            "skus": _suggested_skus(shopper),
            # The page's timeline and "for you" card are swapped too (htmx out-of-band).
            "oob_updates": result is not None,
            "for_you_items": after.items if after is not None else [],
            "timeline": shopper_selectors.timeline(shopper=shopper),
            "event_count": shopper_selectors.event_count(shopper=shopper),
        }
        return render(request, "recommender/partials/simulate.html", context, status=status)
    context = {**_shopper_context(shopper), "form": form, "simulation": result}
    context["can_simulate"] = True
    return render(request, "recommender/shopper_detail.html", context, status=status)


def _shopper_or_404(external_id: str):
    if unstorable(external_id):  # no stored key holds NUL; PostgreSQL would refuse the query
        raise Http404("No such shopper.")
    shopper = shopper_selectors.shopper_with_interests(external_id=external_id)
    if shopper is None:
        raise Http404(f"No shopper {external_id!r}.")
    return shopper


def _shopper_context(shopper) -> dict:
    now = timezone.now()
    slots = [
        (slot.name, slot.title, recommend(shopper=shopper, slot=slot.name, k=SLOT_K, now=now))
        for slot in shopper_page_slots()
    ]
    return {
        "shopper": shopper,
        "slots": slots,
        "timeline": shopper_selectors.timeline(shopper=shopper),
        "event_count": shopper_selectors.event_count(shopper=shopper),
        "form": SimulateEventForm(),
        "skus": _suggested_skus(shopper, slots=slots),
    }


def _suggested_skus(shopper, *, slots=None) -> list[tuple[str, str]]:
    """SKUs offered by the simulate form: the shopper's current recommendations."""
    if slots is None:
        now = timezone.now()
        slots = [
            (s, "", recommend(shopper=shopper, slot=s, k=SLOT_K, now=now))
            for s in ("for_you", "trending")
        ]
    seen: dict[str, str] = {}
    for _slot, _title, result in slots:
        for item in result.items:
            seen.setdefault(item.product.sku, item.product.title)
    return list(seen.items())


# -- products ---------------------------------------------------------------------------------
@staff_page
@require_GET
def product_detail(request: HttpRequest, sku: str) -> HttpResponse:
    if unstorable(sku):  # no stored key holds NUL; PostgreSQL would refuse the query
        raise Http404("No such product.")
    product = catalog_selectors.product_by_sku(sku=sku)
    if product is None:
        raise Http404(f"No product {sku!r}.")
    now = timezone.now()
    similar = similar_products(sku=sku, k=PRODUCT_K, now=now)
    context = {
        "product": product,
        "behavioural": [i for i in similar.items if i.reason.code == "similar"],
        "similar": similar,
        "content": catalog_selectors.content_neighbours(products=[product], k=PRODUCT_K)[
            product.pk
        ],
        "together": bought_together(sku=sku, k=PRODUCT_K, now=now),
        "activity": shopper_selectors.product_activity(
            product_id=product.pk, since=now - timezone.timedelta(days=30)
        ),
        "recommended_last_day": impressions_of(product_id=product.pk, now=now),
    }
    return render(request, "recommender/product_detail.html", context)


# -- promotions and points --------------------------------------------------------------------
@staff_page
@require_GET
def promotions(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    form = ShopperPickForm(request.GET if "shopper" in request.GET else None)
    preview = None
    if form.is_valid():
        shopper = form.cleaned_data["shopper"]
        preview = {
            "shopper": shopper,
            "promotions": recommend(shopper=shopper, slot="promotions", k=PRODUCT_K, now=now),
            "points": recommend(shopper=shopper, slot="points", k=PRODUCT_K, now=now),
        }
    page = page_of(request, catalog_selectors.points_catalogue())
    redeemable = shopper_selectors.redeemable_counts(points_prices=[p.points_price for p in page])
    context = {
        **catalog_selectors.promotions_overview(now=now),
        "form": form,
        "preview": preview,
        "page": page,
        "points_rows": [(p, redeemable[p.points_price]) for p in page],
        "query": query_without_page(request),
    }
    return render(request, "recommender/promotions.html", context)


# -- cold start -------------------------------------------------------------------------------
@staff_page
@require_GET
def cold_start(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    countries = [
        (country_name(code), selectors.cold_start_preview(now=now, k=PREVIEW_K, country=code))
        for code in selectors.top_countries(limit=5)
    ]
    interests = [
        (
            category,
            selectors.cold_start_preview(now=now, k=PREVIEW_K, interests=frozenset({category.pk})),
        )
        for category in selectors.interest_categories(limit=6)
    ]
    newest = catalog_selectors.newest_products(limit=8)
    neighbours = catalog_selectors.content_neighbours(products=newest, k=3)
    context = {
        "anonymous": selectors.cold_start_preview(now=now, k=PREVIEW_K),
        "countries": countries,
        "interests": interests,
        "newest": [(p, neighbours[p.pk]) for p in newest],
    }
    return render(request, "recommender/cold_start.html", context)


# -- models and training ----------------------------------------------------------------------
@staff_page
@require_GET
def models(request: HttpRequest) -> HttpResponse:
    versions = model_versions()
    recent = list(versions[:30])
    compare = CompareForm(request.GET if "a" in request.GET else None, versions=versions)
    metric = request.GET.get("metric") or selectors.default_metric()
    metric_choices = selectors.metric_names(recent)
    if metric not in metric_choices:
        metric = selectors.default_metric()
    context = {
        "runs": list(training_runs()[:12]),
        "versions": recent,
        "champions": [v for v in recent if v.status == ModelVersion.Status.CHAMPION]
        or list(versions.filter(status=ModelVersion.Status.CHAMPION)),
        "compare": compare,
        "comparison": _comparison(compare) if compare.is_valid() else None,
        "metric": metric,
        "metric_choices": metric_choices,
        "history": selectors.metrics_history(metric=metric),
        "serving_summary": selectors.serving_summary(),
        "can_train": request.user.has_perm(TRAIN_PERMISSION),
        "can_promote": request.user.has_perm(PROMOTE_PERMISSION),
    }
    return render(request, "recommender/models.html", context)


def _comparison(form: CompareForm) -> dict:
    a, b = form.cleaned_data["a"], form.cleaned_data["b"]
    names = selectors.metric_names([a, b])
    rows = []
    for name in names:
        va, vb = a.metrics.get(name), b.metrics.get(name)
        delta = vb - va if isinstance(va, int | float) and isinstance(vb, int | float) else None
        rows.append({"name": name, "a": va, "b": vb, "delta": delta})
    return {"a": a, "b": b, "rows": rows}


@staff_page
@require_GET
def run_progress(request: HttpRequest, run_id: int) -> HttpResponse:
    """One run's row, polled by htmx while it runs; the page reloads once it has finished."""
    run = get_object_or_404(training_runs(), pk=run_id)
    response = render(request, "recommender/partials/run_row.html", {"run": run})
    if run.is_finished and request.GET.get("polling"):
        response["HX-Refresh"] = "true"  # new versions and champions to show
    return response


@staff_page
@require_POST
def retrain(request: HttpRequest) -> HttpResponse:
    require_permission(request, TRAIN_PERMISSION)
    try:
        run = start_training(triggered_by=TrainingRun.Trigger.DASHBOARD, user=request.user)
    except TrainingAlreadyRunning as exc:
        messages.warning(request, f"Training run #{exc.run_id} is already queued or running.")
        return redirect(f"{reverse('models')}#run-{exc.run_id}")
    except BrokerUnavailable as exc:
        messages.error(
            request,
            f"The task queue is unreachable, so training run #{exc.run.pk} was recorded but not "
            "started. Check that Redis and the Celery worker are up, then try again.",
        )
        return redirect("models")
    except UnknownAlgorithm as exc:
        messages.error(request, f"Training could not start: {exc}")
        return redirect("models")
    if run.is_finished:  # eager mode (embedded demo, tests): it already ran inline
        messages.success(request, f"Training run #{run.pk} finished: {run.get_status_display()}.")
    else:
        messages.success(request, f"Training run #{run.pk} queued; progress shows below.")
    return redirect(f"{reverse('models')}#run-{run.pk}")


@staff_page
@require_http_methods(["GET", "POST"])
def promote(request: HttpRequest, version_id: int) -> HttpResponse:
    """GET asks for confirmation; POST makes the version serve its algorithm."""
    require_permission(request, PROMOTE_PERMISSION)
    version = get_object_or_404(model_versions(), pk=version_id)
    if request.method == "POST":
        try:
            promote_version(version=version, user=request.user)
        except PromotionError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{version.label} now serves.")
        return redirect("models")
    context = {
        "action": "promote",
        "version": version,
        "champion": champion_version(algorithm=version.algorithm),
    }
    return render(request, "recommender/confirm.html", context)


@staff_page
@require_http_methods(["GET", "POST"])
def roll_back(request: HttpRequest, algorithm: str) -> HttpResponse:
    """GET asks for confirmation; POST restores the champion the current one replaced."""
    require_permission(request, PROMOTE_PERMISSION)
    champion = champion_version(algorithm=algorithm)
    if champion is None:
        raise Http404(f"No champion for {algorithm!r}.")
    if request.method == "POST":
        try:
            restored = rollback(algorithm=algorithm, user=request.user)
        except PromotionError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Rolled back: {restored.label} serves again.")
        return redirect("models")
    context = {"action": "rollback", "version": champion.replaced, "champion": champion}
    return render(request, "recommender/confirm.html", context)
