"""Every dashboard page: anonymous visitors are sent to log in, signed-in non-staff get 403."""

from __future__ import annotations

import pytest

PAGES = [
    "/",
    "/shoppers/",
    "/shoppers/s-1/",
    "/products/",
    "/products/MUG-1/",
    "/promotions/",
    "/cold-start/",
    "/models/",
    "/models/runs/1/progress/",
    "/models/versions/1/promote/",
    "/models/item_knn/rollback/",
    "/experiments/",
    "/experiments/new/",
    "/experiments/1/",
]
POSTS = [
    "/shoppers/s-1/simulate/",
    "/models/retrain/",
    "/models/versions/1/promote/",
    "/models/item_knn/rollback/",
    "/experiments/1/start/",
    "/experiments/1/promote/1/",
]

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", PAGES)
def test_an_anonymous_visitor_is_sent_to_the_login_page(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


@pytest.mark.parametrize("url", POSTS)
def test_an_anonymous_post_is_sent_to_the_login_page(client, url):
    response = client.post(url, {"sku": "MUG-1", "kind": "view"})

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", PAGES)
def test_a_signed_in_shopper_without_staff_status_gets_403(shopper_client, url):
    response = shopper_client.get(url)

    assert response.status_code == 403
    assert b"Not allowed" in response.content


@pytest.mark.parametrize("url", POSTS)
def test_a_post_by_a_non_staff_user_gets_403_and_changes_nothing(shopper_client, url):
    from behavior.models import Event
    from recommender.models import TrainingRun

    response = shopper_client.post(url, {"sku": "MUG-1", "kind": "view"})

    assert response.status_code == 403
    assert not Event.objects.exists()
    assert not TrainingRun.objects.exists()


def test_the_login_page_leads_a_staff_member_to_the_overview(client, staff_user):
    response = client.post(
        "/accounts/login/",
        {"username": "merchandiser", "password": "correct-horse-battery", "next": "/"},
        follow=True,
    )

    assert response.redirect_chain[-1] == ("/", 302)
    assert b"<h1>Overview</h1>" in response.content
