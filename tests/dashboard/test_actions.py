"""The dashboard's POSTs: simulate an event, retrain, promote and roll back; forms and CSRF."""

from __future__ import annotations

import pytest
from django.test import Client

from behavior.models import Event, EventKind
from recommender.models import ModelVersion, TrainingRun


def _simulate(client, *, sku: str, kind: str = "view", htmx: bool = True):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post("/shoppers/s-1/simulate/", {"sku": sku, "kind": kind}, **headers)


@pytest.mark.django_db(transaction=True)
def test_simulating_a_view_stores_the_event_and_changes_the_for_you_list(simulating_client, shop):
    # Transactional: the shopper's real-time state (Redis) moves on commit, as in production.
    before = simulating_client.get("/shoppers/s-1/").context["slots"][0][2].items
    first = before[0].product.sku

    response = _simulate(simulating_client, sku=first)

    assert response.status_code == 200
    event = Event.objects.get(event_id__startswith="dashboard-")
    assert (event.shopper.external_id, event.product.sku, event.kind) == ("s-1", first, "view")
    simulation = response.context["simulation"]
    assert simulation["changed"]
    # A product just viewed leaves "for you" (it is in the shopper's profile now).
    assert simulation["before"][0] == {"item": before[0], "change": "dropped"}
    assert first not in [row["item"].product.sku for row in simulation["after"]]
    page = response.content.decode()
    assert "“For you” changed" in page
    assert 'id="timeline" hx-swap-oob="true"' in page  # the timeline refreshes too
    assert 'id="slot-for_you" hx-swap-oob="true"' in page


def test_simulating_without_htmx_renders_the_whole_shopper_page(
    simulating_client, shop, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _simulate(simulating_client, sku="GAR-2", kind="purchase", htmx=False)

    assert response.status_code == 200
    assert "<h1>Shopper s-1</h1>" in response.content.decode()
    assert Event.objects.filter(
        shopper__external_id="s-1", product__sku="GAR-2", kind=EventKind.PURCHASE
    ).exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"sku": "NOPE-1", "kind": "view"}, "No product has the SKU &#x27;NOPE-1&#x27;."),
        ({"sku": "MUG-1", "kind": "rating"}, "Select a valid choice. rating is not one of"),
        ({"sku": "", "kind": "view"}, "Product SKU: This field is required."),
    ],
)
def test_a_bad_simulation_answers_400_with_the_reason_and_stores_nothing(
    simulating_client, shop, data, message
):
    stored = Event.objects.count()

    response = simulating_client.post("/shoppers/s-1/simulate/", data, HTTP_HX_REQUEST="true")

    assert response.status_code == 400
    assert message in response.content.decode()
    assert Event.objects.count() == stored


def test_a_simulation_without_a_csrf_token_is_refused(simulating_client, staff_user, shop):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)  # holds the permission: only the missing token refuses
    stored = Event.objects.count()

    response = client.post("/shoppers/s-1/simulate/", {"sku": "MUG-1", "kind": "view"})

    assert response.status_code == 403
    assert Event.objects.count() == stored


@pytest.mark.django_db(transaction=True)
def test_retrain_now_runs_training_and_reports_the_outcome(trainer_client, shop):
    # Transactional: the run is enqueued on commit and, with eager tasks, trains inline.
    response = trainer_client.post("/models/retrain/", follow=True)

    run = TrainingRun.objects.order_by("-id").first()
    assert run.triggered_by == TrainingRun.Trigger.DASHBOARD
    assert response.redirect_chain[-1][0] == f"/models/#run-{run.pk}"
    assert run.status == TrainingRun.Status.SUCCEEDED
    assert f"Training run #{run.pk} finished: Succeeded." in response.content.decode()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("dead_broker")
def test_retrain_now_says_so_when_the_task_queue_is_unreachable(trainer_client):
    response = trainer_client.post("/models/retrain/", follow=True)

    assert response.status_code == 200
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.NOT_QUEUED
    assert f"training run #{run.pk} was recorded but not started" in response.content.decode()


def test_retrain_now_while_a_run_is_active_points_at_it(trainer_client, shop):
    active = TrainingRun.objects.create(
        algorithms=["item_knn"], lock_key="item_knn", triggered_by="api"
    )

    response = trainer_client.post("/models/retrain/", follow=True)

    assert f"Training run #{active.pk} is already queued or running." in (response.content.decode())
    assert TrainingRun.objects.active().count() == 1


def test_retrain_now_needs_the_permission(staff_client, shop):
    runs = TrainingRun.objects.count()

    response = staff_client.post("/models/retrain/")

    assert response.status_code == 403
    assert TrainingRun.objects.count() == runs


def test_the_progress_row_polls_while_running_and_reloads_the_page_when_done(staff_client, shop):
    run = TrainingRun.objects.create(
        algorithms=["item_knn"],
        lock_key="item_knn",
        triggered_by="api",
        progress=40,
        status=TrainingRun.Status.RUNNING,
        stage="fitting item_knn 1/1",
    )

    running = staff_client.get(f"/models/runs/{run.pk}/progress/?polling=1")
    TrainingRun.objects.filter(pk=run.pk).update(status="succeeded", progress=100)
    done = staff_client.get(f"/models/runs/{run.pk}/progress/?polling=1")

    assert 'hx-trigger="every 2s"' in running.content.decode()
    assert "40 % · fitting item_knn 1/1" in running.content.decode()
    assert "HX-Refresh" not in running
    assert "hx-trigger" not in done.content.decode()
    assert done["HX-Refresh"] == "true"


def test_promoting_asks_for_confirmation_then_makes_the_version_serve(trainer_client, shop):
    from tests.serving.conftest import train

    train("item_knn")
    champion = ModelVersion.objects.champions().get(algorithm="item_knn")
    older = ModelVersion.objects.filter(algorithm="item_knn").exclude(pk=champion.pk).first()

    confirm = trainer_client.get(f"/models/versions/{older.pk}/promote/")
    response = trainer_client.post(f"/models/versions/{older.pk}/promote/", follow=True)

    # Numbered within item-kNN (the older one is its first), not by the shared id.
    assert "Promote Item-kNN version 1?" in confirm.content.decode()
    older.refresh_from_db()
    assert older.status == ModelVersion.Status.CHAMPION
    assert "Item-kNN version 1 now serves." in response.content.decode()


def test_rolling_back_asks_for_confirmation_then_restores_the_replaced_champion(
    trainer_client, shop
):
    from tests.serving.conftest import train

    first = ModelVersion.objects.champions().get(algorithm="item_knn")
    train("item_knn")
    current = ModelVersion.objects.champions().get(algorithm="item_knn")
    assert current.pk != first.pk, "the retrained version should have been promoted"

    confirm = trainer_client.get("/models/item_knn/rollback/")
    response = trainer_client.post("/models/item_knn/rollback/", follow=True)

    assert "version 1</strong>, the champion it replaced" in confirm.content.decode()
    first.refresh_from_db()
    assert first.status == ModelVersion.Status.CHAMPION
    assert "Rolled back: Item-kNN version 1 serves again." in response.content.decode()


def test_promote_and_rollback_need_the_permission(staff_client, shop):
    version = ModelVersion.objects.first()

    assert staff_client.post(f"/models/versions/{version.pk}/promote/").status_code == 403
    assert staff_client.post("/models/item_knn/rollback/").status_code == 403
