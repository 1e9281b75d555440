"""The admin's promote and roll back actions on model versions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from recommender.models import ModelVersion
from tests.recommender.test_training import train

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root", "scripted_algorithm")]

CHANGELIST = "/admin/recommender/modelversion/"


@pytest.fixture
def admin_client_logged_in(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("boss", "b@example.com", "pw"))
    return client


def test_the_promote_action_makes_the_selected_version_serve(admin_client_logged_in, shop):
    champion = ModelVersion.objects.get(run=train())
    candidate = ModelVersion.objects.get(run=train(reverse=True))

    response = admin_client_logged_in.post(
        CHANGELIST, {"action": "promote", "_selected_action": [candidate.pk]}, follow=True
    )

    assert "now serves scripted" in response.content.decode()
    champion.refresh_from_db()
    candidate.refresh_from_db()
    assert (candidate.status, champion.status) == ("champion", "retired")


def test_the_rollback_action_restores_the_previous_champion(admin_client_logged_in, shop):
    first = ModelVersion.objects.get(run=train())
    second = ModelVersion.objects.get(run=train())

    response = admin_client_logged_in.post(
        CHANGELIST, {"action": "roll_back", "_selected_action": [second.pk]}, follow=True
    )

    assert f"restored {first}" in response.content.decode()
    assert ModelVersion.objects.champions().get() == first


@pytest.mark.parametrize("action", ["promote", "roll_back"])
def test_staff_who_may_only_view_versions_cannot_promote_or_roll_back(
    client, django_user_model, shop, action
):
    ModelVersion.objects.get(run=train())
    # promote: a candidate that did not win; roll_back: a champion with a predecessor.
    selected = ModelVersion.objects.get(run=train(reverse=action == "promote"))
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_modelversion"))
    client.force_login(viewer)
    before = dict(ModelVersion.objects.values_list("pk", "status"))

    page = client.get(CHANGELIST)
    response = client.post(CHANGELIST, {"action": action, "_selected_action": [selected.pk]})

    assert page.status_code == 200
    assert f'value="{action}"' not in page.content.decode()
    assert response.status_code in (200, 302)
    assert dict(ModelVersion.objects.values_list("pk", "status")) == before


def test_runs_and_versions_cannot_be_edited_or_deleted_by_hand(admin_client_logged_in, shop):
    version = ModelVersion.objects.get(run=train())

    run_page = admin_client_logged_in.get(
        f"/admin/recommender/trainingrun/{version.run_id}/change/"
    )
    delete = admin_client_logged_in.post(
        f"/admin/recommender/modelversion/{version.pk}/delete/", {"post": "yes"}
    )

    assert run_page.status_code == 200 and b'name="status"' not in run_page.content
    assert delete.status_code == 403 and ModelVersion.objects.filter(pk=version.pk).exists()
