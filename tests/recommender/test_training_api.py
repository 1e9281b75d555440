"""The training endpoints: trigger (202/400/409/503), list and show runs, versions, promote,
roll back; staff only, and changing what serves needs the dashboard's permissions too."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from recommender.models import ModelVersion, TrainingRun
from recommender.training.services import run_training, start_training

pytestmark = [pytest.mark.usefixtures("media_root", "scripted_algorithm")]


@pytest.fixture
def trainer(staff_user):
    """A staff member allowed to retrain, promote and roll back (as on the dashboard)."""
    staff_user.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_trainingrun", "change_modelversion"])
    )
    return staff_user


@pytest.fixture
def staff_client(trainer) -> APIClient:
    client = APIClient()
    client.force_authenticate(trainer)
    return client


def trained(algorithm: str = "scripted", **params) -> ModelVersion:
    run = start_training(
        triggered_by="command", algorithms=[algorithm], params={algorithm: params}, enqueue=False
    )
    run_training(run_id=run.pk)
    return ModelVersion.objects.get(run=run)


@pytest.mark.django_db
def test_a_staff_trigger_answers_202_with_the_run_and_where_to_poll(staff_client):
    response = staff_client.post(
        "/api/v1/training-runs", {"algorithms": ["scripted"]}, format="json"
    )

    assert response.status_code == 202, response.content
    run = TrainingRun.objects.get()
    assert response["Location"] == f"/api/v1/training-runs/{run.pk}"
    assert response.json()["id"] == run.pk and response.json()["status"] == "queued"
    assert (run.triggered_by, run.requested_by.username) == ("api", "merchandiser")


@pytest.mark.django_db
def test_a_staff_token_may_trigger_and_an_empty_body_trains_the_defaults(trainer):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=trainer).key}")

    response = client.post("/api/v1/training-runs", format="json")

    assert response.status_code == 202, response.content
    assert "popularity" in response.json()["algorithms"]


@pytest.mark.django_db
def test_unknown_algorithms_answer_400_naming_the_field(staff_client):
    response = staff_client.post(
        "/api/v1/training-runs", {"algorithms": ["scripted", "magic"]}, format="json"
    )

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["attr"] == "algorithms" and "magic" in error["detail"]
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_a_blend_cannot_be_requested_on_its_own(staff_client):
    # A blend is assembled from trained models; a run for it would fail with everything in it.
    response = staff_client.post(
        "/api/v1/training-runs", {"algorithms": ["popularity", "blend"]}, format="json"
    )

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["attr"] == "algorithms"
    assert "Not trainable on its own (combines trained models): blend." in error["detail"]
    assert "Choose from:" in error["detail"] and ", blend" not in error["detail"]
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_a_second_trigger_answers_409_with_the_active_run(staff_client):
    first = staff_client.post("/api/v1/training-runs", {"algorithms": ["scripted"]}, format="json")

    second = staff_client.post("/api/v1/training-runs", {"algorithms": ["scripted"]}, format="json")

    run_id = first.json()["id"]
    assert second.status_code == 409
    assert second["Location"] == f"/api/v1/training-runs/{run_id}"
    assert second.json()["errors"][0]["code"] == "training_already_running"
    assert f"#{run_id}" in second.json()["errors"][0]["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["anonymous", "non-staff"])
def test_only_staff_may_trigger_or_read_training(who, django_user_model):
    client = APIClient()
    if who == "non-staff":
        client.force_authenticate(django_user_model.objects.create_user("shopkeeper"))

    responses = [
        client.post("/api/v1/training-runs", {}, format="json"),
        client.get("/api/v1/training-runs"),
        client.get("/api/v1/model-versions"),
    ]

    expected = 401 if who == "anonymous" else 403
    assert [r.status_code for r in responses] == [expected] * 3
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_staff_without_the_permissions_may_read_but_not_train_promote_or_roll_back(
    staff_user, shop
):
    trained()  # the champion a rollback would restore
    second = trained(reverse=True)
    client = APIClient()
    client.force_authenticate(staff_user)  # staff, but neither permission
    before = dict(ModelVersion.objects.values_list("pk", "status"))
    runs_before = TrainingRun.objects.count()

    writes = [
        client.post("/api/v1/training-runs", {"algorithms": ["scripted"]}, format="json"),
        client.post(f"/api/v1/model-versions/{second.pk}/promote"),
        client.post("/api/v1/model-versions/rollback", {"algorithm": "scripted"}, format="json"),
    ]
    reads = [client.get("/api/v1/training-runs"), client.get("/api/v1/model-versions")]

    assert [r.status_code for r in writes] == [403, 403, 403]
    assert "permission" in writes[0].json()["errors"][0]["detail"]
    assert [r.status_code for r in reads] == [200, 200]
    assert dict(ModelVersion.objects.values_list("pk", "status")) == before
    assert TrainingRun.objects.count() == runs_before


@pytest.mark.django_db
def test_runs_are_listed_newest_first_and_shown_with_progress(staff_client, shop):
    version = trained()
    TrainingRun.objects.create(algorithms=["popularity"], lock_key="popularity", triggered_by="api")

    listing = staff_client.get("/api/v1/training-runs?limit=1")
    detail = staff_client.get(f"/api/v1/training-runs/{version.run_id}")

    assert listing.status_code == 200 and listing.json()["count"] == 2
    assert listing.json()["results"][0]["algorithms"] == ["popularity"]
    body = detail.json()
    assert (body["status"], body["progress"], body["stage"]) == ("succeeded", 100, "done")
    assert body["n_events"] == 1500 and body["duration_seconds"] > 0


@pytest.mark.django_db
def test_model_versions_are_listed_with_metrics_and_filtered(staff_client, shop):
    trained()
    trained(reverse=True)

    candidates = staff_client.get("/api/v1/model-versions?status=candidate")
    wrong = staff_client.get("/api/v1/model-versions?status=serving")

    assert [v["status"] for v in candidates.json()["results"]] == ["candidate"]
    assert "ndcg@10" in candidates.json()["results"][0]["metrics"]
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["attr"] == "status"


@pytest.mark.django_db
def test_promote_by_hand_then_roll_back_restores_the_previous_champion(staff_client, shop):
    champion = trained()
    candidate = trained(reverse=True)

    promoted = staff_client.post(f"/api/v1/model-versions/{candidate.pk}/promote")
    restored = staff_client.post(
        "/api/v1/model-versions/rollback", {"algorithm": "scripted"}, format="json"
    )

    assert promoted.status_code == 200 and promoted.json()["status"] == "champion"
    assert promoted.json()["promoted_by"] == "merchandiser"
    assert restored.status_code == 200 and restored.json()["id"] == champion.pk
    candidate.refresh_from_db()
    assert candidate.status == ModelVersion.Status.RETIRED
    assert ModelVersion.objects.champions().get().pk == champion.pk


@pytest.mark.django_db
def test_rollback_without_an_earlier_champion_answers_400(staff_client, shop):
    trained()

    response = staff_client.post(
        "/api/v1/model-versions/rollback", {"algorithm": "scripted"}, format="json"
    )

    assert response.status_code == 400
    assert "nothing to roll back to" in response.json()["errors"][0]["detail"]


@pytest.mark.django_db
def test_a_version_whose_artifact_vanished_cannot_be_promoted(staff_client, shop, media_root):
    trained()
    candidate = trained(reverse=True)
    (media_root / candidate.artifact / "manifest.json").unlink()

    response = staff_client.post(f"/api/v1/model-versions/{candidate.pk}/promote")

    assert response.status_code == 400 and "missing or incomplete" in response.content.decode()
    candidate.refresh_from_db()
    assert candidate.status == ModelVersion.Status.CANDIDATE


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("dead_broker")
def test_with_the_broker_down_the_trigger_answers_503_and_records_the_run(trainer):
    # drf-standardized-errors reports 5xx to Django's got_request_exception (so outages are
    # logged); the test client would re-raise that instead of returning the response.
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(trainer)

    response = client.post("/api/v1/training-runs", {"algorithms": ["scripted"]}, format="json")

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["type"] == "server_error"
    assert body["errors"][0]["code"] == "broker_unavailable"
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.NOT_QUEUED and "unreachable" in run.error
    assert f"#{run.pk}" in body["errors"][0]["detail"]
