"""The what-if on the placement page: run as a task from the page (eager here), its progress
polled while it runs, the comparison and its sentence beside Publish; view permission only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from catalog.models import Category
from placements.models import Rule, RuleKind, RuleState, WhatIfRun
from placements.rule_services import save_rule
from tests.placements.conftest import worker_replaying

pytestmark = pytest.mark.django_db


@pytest.fixture
def merchandiser(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def bury_mugs(home) -> Rule:
    rule = Rule(
        name="Fewer mugs",
        kind=RuleKind.BURY,
        strength="strong",
        category=Category.objects.get(slug="mugs"),
        state=RuleState.DRAFT,
    )
    return save_rule(rule=rule, placements=[home])


def _grant(user, *codenames: str) -> None:
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))


def _run(client, captured, **data):
    with captured(execute=True):
        return client.post("/placements/home-for-you/whatif/", data)


def test_the_page_runs_the_what_if_and_shows_the_table_and_the_sentence_beside_publish(
    merchandiser, staff_user, bury_mugs, django_capture_on_commit_callbacks
):
    _grant(staff_user, "view_rule", "publish_rule")

    started = _run(merchandiser, django_capture_on_commit_callbacks, days=14)
    page = merchandiser.get("/placements/home-for-you/").content.decode()

    assert started.status_code == 302 and started["Location"].endswith("#whatif")
    run = WhatIfRun.objects.get()
    assert run.status == WhatIfRun.Status.SUCCEEDED, run.error
    assert run.requested_by == staff_user and run.days == 14 and run.progress == 100
    summary = run.result["summary"]
    assert 'data-testid="whatif-table"' in page
    assert "Exposure: Mugs" in page
    beside = page.split('data-testid="whatif-beside-publish"')[1].split("</div>")[0]
    assert "Publish</button>" in page.split('data-testid="whatif-beside-publish"')[0]
    assert summary.split(" (")[0] in beside


def test_running_a_what_if_needs_the_view_permission(merchandiser, bury_mugs, client):
    refused = merchandiser.post("/placements/home-for-you/whatif/", {"days": 7})
    client.logout()
    anonymous = client.post("/placements/home-for-you/whatif/", {"days": 7})

    assert refused.status_code == 403
    assert anonymous.status_code == 302 and "/login" in anonymous["Location"]
    assert not WhatIfRun.objects.exists()
    assert "Run the what-if" not in merchandiser.get("/placements/home-for-you/").content.decode()


@pytest.mark.parametrize(("days", "says"), [(0, "days"), (91, "days"), ("many", "days")])
def test_days_out_of_range_are_refused_with_nothing_stored(
    merchandiser, staff_user, bury_mugs, days, says
):
    _grant(staff_user, "view_rule")

    response = merchandiser.post("/placements/home-for-you/whatif/", {"days": days}, follow=True)

    assert not WhatIfRun.objects.exists()
    errors = [str(m) for m in response.context["messages"]]
    assert any(m.startswith(f"What-if not run: {says}") for m in errors), errors


def test_a_placement_without_drafts_is_refused_with_a_clear_error(merchandiser, staff_user, home):
    _grant(staff_user, "view_rule")

    response = merchandiser.post("/placements/home-for-you/whatif/", {"days": 7}, follow=True)

    assert not WhatIfRun.objects.exists()
    assert "has no draft rule" in response.content.decode()


def test_a_running_what_if_shows_its_stage_and_percent_and_reloads_once_done(merchandiser, home):
    run = WhatIfRun.objects.create(
        placement=home,
        days=7,
        status=WhatIfRun.Status.RUNNING,
        progress=40,
        stage="replaying",
        heartbeat_at=timezone.now(),
    )
    url = f"/placements/home-for-you/whatif/{run.pk}/progress/?polling=1"

    with worker_replaying(run):  # a live worker on it: its lock held, its heartbeat fresh
        running = merchandiser.get(url)
    WhatIfRun.objects.filter(pk=run.pk).update(status=WhatIfRun.Status.FAILED, error="boom")
    finished = merchandiser.get(url)

    assert "40 % · replaying" in running.content.decode()
    assert "hx-trigger" in running.content.decode() and "HX-Refresh" not in running
    assert finished["HX-Refresh"] == "true"
    assert "What-if failed: boom" in finished.content.decode()
    assert merchandiser.get("/placements/home-for-you/whatif/999999/progress/").status_code == 404


def test_the_admin_lists_past_what_ifs_read_only(admin_client, home):
    run = WhatIfRun.objects.create(placement=home, days=7, status=WhatIfRun.Status.SUCCEEDED)

    listed = admin_client.get("/admin/placements/whatifrun/")
    adding = admin_client.get("/admin/placements/whatifrun/add/")
    changing = admin_client.post(f"/admin/placements/whatifrun/{run.pk}/change/", {"days": 3})

    assert listed.status_code == 200 and "Home: for you" in listed.content.decode()
    assert adding.status_code == 403
    assert changing.status_code == 403 and WhatIfRun.objects.get(pk=run.pk).days == 7


def test_a_what_if_whose_worker_died_shows_as_failed_and_a_new_one_runs(
    merchandiser, staff_user, bury_mugs, django_capture_on_commit_callbacks
):
    _grant(staff_user, "view_rule")
    # Running, beating a moment ago, but no live process holds its lock: its worker was killed.
    dead = WhatIfRun.objects.create(
        placement=bury_mugs.placements.get(),
        days=7,
        status=WhatIfRun.Status.RUNNING,
        progress=40,
        stage="replaying",
        heartbeat_at=timezone.now(),
    )

    polled = merchandiser.get(f"/placements/home-for-you/whatif/{dead.pk}/progress/?polling=1")
    page = merchandiser.get("/placements/home-for-you/").content.decode()
    started = _run(merchandiser, django_capture_on_commit_callbacks, days=14)

    assert polled["HX-Refresh"] == "true"  # the poll stops and the page shows the failure
    assert "What-if failed: Its worker stopped (its process is gone" in polled.content.decode()
    assert "What-if failed: Its worker stopped" in page and "Run the what-if" in page
    dead.refresh_from_db()
    assert dead.status == WhatIfRun.Status.FAILED and dead.finished_at is not None
    assert "while replaying" in dead.error and "Start a new what-if" in dead.error
    assert started.status_code == 302
    newest = WhatIfRun.objects.exclude(pk=dead.pk).get()
    assert newest.status == WhatIfRun.Status.SUCCEEDED, newest.error
    assert newest.heartbeat_at is not None and newest.heartbeat_at >= newest.created_at
