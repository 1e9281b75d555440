"""The models page: training runs, versions, champions, metrics; retrain, promote, roll back."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dashboard import selectors
from dashboard.access import require_permission, staff_page
from dashboard.forms import CompareForm
from recommender import selectors as model_selectors
from recommender.models import TrainingRun
from recommender.permissions import PROMOTE_PERMISSION, TRAIN_PERMISSION
from recommender.selectors import champion_version, model_versions, training_runs
from recommender.training.champion import ChampionError, make_champion, rollback
from recommender.training.services import (
    BrokerUnavailable,
    TrainingAlreadyRunning,
    UnknownAlgorithm,
    start_training,
)


@staff_page
@require_GET
def models(request: HttpRequest) -> HttpResponse:
    versions = model_versions()
    recent = list(versions[:30])
    compare = CompareForm(request.GET if "a" in request.GET else None, versions=versions)
    metric = request.GET.get("metric") or model_selectors.default_metric()
    metric_choices = model_selectors.metric_names(recent)
    if metric not in metric_choices:
        metric = model_selectors.default_metric()
    context = {
        "runs": list(training_runs()[:12]),
        "versions": recent,
        "champions": model_selectors.champions_among(versions=recent, every=versions),
        "compare": compare,
        "comparison": _comparison(compare) if compare.is_valid() else None,
        "metric": metric,
        "metric_choices": metric_choices,
        "history": model_selectors.metrics_history(metric=metric),
        "serving_summary": selectors.serving_summary(),
        "can_train": request.user.has_perm(TRAIN_PERMISSION),
        "can_promote": request.user.has_perm(PROMOTE_PERMISSION),
    }
    return render(request, "dashboard/models.html", context)


def _comparison(form: CompareForm) -> dict:
    a, b = form.cleaned_data["a"], form.cleaned_data["b"]
    names = model_selectors.metric_names([a, b])
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
    response = render(request, "dashboard/partials/run_row.html", {"run": run})
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
            make_champion(version=version, user=request.user)
        except ChampionError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{version.label} now serves.")
        return redirect("models")
    context = {
        "action": "promote",
        "version": version,
        "champion": champion_version(algorithm=version.algorithm),
    }
    return render(request, "dashboard/confirm.html", context)


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
        except ChampionError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Rolled back: {restored.label} serves again.")
        return redirect("models")
    context = {"action": "rollback", "version": champion.replaced, "champion": champion}
    return render(request, "dashboard/confirm.html", context)
