"""The A/B test pages: the list, a test's results, and creating, starting, stopping and
promoting (the manage permission); each calls one service and says what happened."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from dashboard.access import require_permission, staff_page
from dashboard.experiment_forms import ExperimentForm, VariantFormSet
from placements.experiments.results import experiment_results
from placements.experiments.selectors import experiment_by_id, experiment_list, variant_of
from placements.experiments.services import (
    create_experiment,
    promote_variant,
    start_experiment,
    stop_experiment,
)
from placements.permissions import MANAGE_EXPERIMENTS, VIEW_EXPERIMENTS


@staff_page
@require_GET
def experiments(request: HttpRequest) -> HttpResponse:
    require_permission(request, VIEW_EXPERIMENTS)
    context = {
        "experiments": experiment_list(),
        "can_manage": request.user.has_perm(MANAGE_EXPERIMENTS),
    }
    return render(request, "dashboard/experiments.html", context)


@staff_page
@require_GET
def experiment_detail(request: HttpRequest, experiment_id: int) -> HttpResponse:
    require_permission(request, VIEW_EXPERIMENTS)
    experiment = _experiment(experiment_id)
    results = experiment_results(experiment=experiment, now=timezone.now())
    context = {
        "experiment": experiment,
        "results": results,
        "rows": list(zip(results.figures, results.primary.estimates, strict=True)),
        "comparisons": _comparison_rows(results),
        "can_manage": request.user.has_perm(MANAGE_EXPERIMENTS),
    }
    return render(request, "dashboard/experiment_detail.html", context)


@staff_page
@require_http_methods(["GET", "POST"])
def experiment_create(request: HttpRequest) -> HttpResponse:
    require_permission(request, MANAGE_EXPERIMENTS)
    posted = request.method == "POST"
    form = ExperimentForm(request.POST if posted else None)
    variants = VariantFormSet(request.POST if posted else None, prefix="variant")
    variant_errors: list[str] = []
    if posted and form.is_valid() and variants.is_valid():
        specs = [f.spec() for f in variants if f.has_changed() and f.cleaned_data]
        try:
            experiment = create_experiment(
                name=form.cleaned_data["name"],
                placement_name=form.cleaned_data["placement"],
                variants=specs,
                plan=form.plan(),
            )
        except ValidationError as exc:
            for field, problems in exc.message_dict.items():
                if field in form.fields and field != "name":
                    form.add_error(field, problems)
                else:  # a variant's field: named in the message
                    variant_errors += [f"{field}: {problem}" for problem in problems]
        else:
            messages.success(request, f"{experiment.name} is a draft; start it when ready.")
            return redirect("experiment-detail", experiment_id=experiment.pk)
    context = {"form": form, "variants": variants, "variant_errors": variant_errors}
    return render(request, "dashboard/experiment_form.html", context, status=400 if posted else 200)


@staff_page
@require_http_methods(["POST"])
def experiment_start(request: HttpRequest, experiment_id: int) -> HttpResponse:
    return _act(request, experiment_id, start_experiment, "is running from the next request.")


@staff_page
@require_http_methods(["POST"])
def experiment_stop(request: HttpRequest, experiment_id: int) -> HttpResponse:
    return _act(request, experiment_id, stop_experiment, "stopped: everyone gets the placement.")


@staff_page
@require_http_methods(["POST"])
def experiment_promote(request: HttpRequest, experiment_id: int, variant_id: int) -> HttpResponse:
    require_permission(request, MANAGE_EXPERIMENTS)
    experiment = _experiment(experiment_id)
    variant = variant_of(experiment=experiment, variant_id=variant_id)
    if variant is None:
        raise Http404("No such variant in this experiment.")
    try:
        promote_variant(experiment=experiment, variant=variant, now=timezone.now())
    except ValidationError as exc:
        messages.error(request, f"Not promoted: {' '.join(exc.messages)}")
    else:
        messages.success(request, f"{variant.name} is now the placement's live version.")
    return redirect("experiment-detail", experiment_id=experiment.pk)


def _comparison_rows(results) -> list[tuple[str, str, object]]:
    """(metric, challenger, comparison) for the primary metric, then each guardrail."""
    names = [figure.variant.name for figure in results.figures[1:]]
    rows = []
    for metric, role in (
        (results.primary, "primary"),
        *((g, "guardrail") for g in results.guardrails),
    ):
        label = f"{metric.label} ({role})"
        rows += [(label, n, c) for n, c in zip(names, metric.comparisons, strict=True)]
    return rows


def _act(request: HttpRequest, experiment_id: int, service, done: str) -> HttpResponse:
    require_permission(request, MANAGE_EXPERIMENTS)
    experiment = _experiment(experiment_id)
    try:
        service(experiment=experiment, now=timezone.now())
    except ValidationError as exc:
        messages.error(request, f"{experiment.name}: {' '.join(exc.messages)}")
    else:
        messages.success(request, f"{experiment.name} {done}")
    return redirect("experiment-detail", experiment_id=experiment.pk)


def _experiment(experiment_id: int):
    experiment = experiment_by_id(experiment_id=experiment_id)
    if experiment is None:
        raise Http404("No such experiment.")
    return experiment
