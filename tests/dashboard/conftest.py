"""Dashboard fixtures: a small trained shop with promotions and points, and logged-in clients."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from behavior.models import Shopper
from catalog.models import Promotion

# The serving layer keeps champions and the catalog in process memory: start every test afresh,
# exactly as the serving tests do (importing the autouse fixture applies it here).
from tests.serving.conftest import _fresh_serving_state, build_shop, train  # noqa: F401


@pytest.fixture
def shop(db) -> dict:
    """Three taste groups of ten products, 90 shoppers, item-kNN/popularity/trending trained,
    an active and an upcoming promotion, and points on a third of the shoppers."""
    built = build_shop()
    now = timezone.now()
    active = Promotion.objects.create(
        name="Mug Week",
        discount_percent=Decimal("20"),
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=6),
    )
    active.categories.add(built["categories"][0])
    upcoming = Promotion.objects.create(
        name="Garden Days",
        discount_percent=Decimal("15"),
        starts_at=now + timedelta(days=3),
        ends_at=now + timedelta(days=10),
    )
    upcoming.products.add(*built["products"][20:25])
    Shopper.objects.filter(external_id__in=[f"s-{i}" for i in range(0, 90, 3)]).update(
        points_balance=2600
    )
    train("item_knn", "popularity", "trending")
    return built


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def simulating_client(client, staff_user):
    """A staff member allowed to record events (simulate one on a shopper's page)."""
    staff_user.user_permissions.add(
        Permission.objects.get(content_type__app_label="behavior", codename="add_event")
    )
    client.force_login(staff_user)
    return client


@pytest.fixture
def trainer_client(client, staff_user):
    """A staff member allowed to retrain, promote and roll back."""
    staff_user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="recommender",
            codename__in=["add_trainingrun", "change_modelversion"],
        )
    )
    client.force_login(staff_user)
    return client


@pytest.fixture
def shopper_client(client, django_user_model):
    """Signed in, but not staff."""
    user = django_user_model.objects.create_user(username="shopper", password="pw-123456789")
    client.force_login(user)
    return client
