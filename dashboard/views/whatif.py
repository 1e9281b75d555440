"""A placement's what-if on recent traffic: started from its page, replayed by a Celery task
(eager in the embedded default), its progress polled like a training run's."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from dashboard.access import staff_page
from dashboard.forms import WhatIfForm
from dashboard.views.placements import draft_choices, placement_or_404, require_view
from placements.selectors import whatif_run
from placements.whatif import WhatIfError
from placements.whatif_runs import fail_stopped_whatifs, start_whatif


@staff_page
@require_POST
def start(request: HttpRequest, name: str) -> HttpResponse:
    """Queue a what-if; bad input (days out of range, no draft) says why and stores nothing."""
    require_view(request)
    placement = placement_or_404(name)
    form = WhatIfForm(request.POST, drafts=draft_choices(placement))
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"What-if not run: {field}: {' '.join(errors)}")
        return redirect(_anchor(placement.name))
    try:
        run = start_whatif(
            placement=placement,
            days=form.cleaned_data["days"],
            rule_ids=form.cleaned_data["rules"] or None,
            user=request.user,
        )
    except WhatIfError as exc:
        messages.error(request, f"What-if not run: {exc}")
        return redirect(_anchor(placement.name))
    run.refresh_from_db()
    if not run.is_finished:
        messages.success(request, f"What-if #{run.pk} queued; its progress shows below.")
    elif run.status == run.Status.FAILED:  # eager mode (embedded demo, tests): it already ran
        messages.error(request, f"What-if #{run.pk} failed: {run.error}")
    return redirect(_anchor(placement.name))


@staff_page
@require_GET
def progress(request: HttpRequest, name: str, run_id: int) -> HttpResponse:
    """One run's progress, polled by htmx while it runs; the page reloads once it finished."""
    placement = placement_or_404(name)
    fail_stopped_whatifs(now=timezone.now(), placement=placement)  # its worker may have died
    run = whatif_run(placement=placement, run_id=run_id)
    if run is None:
        raise Http404("No such what-if on this placement.")
    response = render(
        request, "dashboard/partials/whatif_run.html", {"run": run, "placement": placement}
    )
    if run.is_finished and request.GET.get("polling"):
        response["HX-Refresh"] = "true"  # the comparison and the sentence beside Publish
    return response


def _anchor(name: str) -> str:
    return f"{reverse('placement-detail', args=[name])}#whatif"
