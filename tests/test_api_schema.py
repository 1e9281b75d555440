"""schemathesis against the served OpenAPI schema: no 5xx, no response off its schema.

Runs every operation with a bounded number of generated requests against a small shop with a
trained model, as a staff user with an API token. The loader is ``from_wsgi`` (the pytest
fixture loader crashed under pytest 9, see ECOSYSTEM.md), fed the generated schema.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from config.wsgi import application

# The schema is generated in-process (loading it over WSGI at import time would touch the
# non-test database); requests then go to the WSGI app like ``from_wsgi`` does.
schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
schema.app = application

pytestmark = pytest.mark.django_db
# Training routes start real runs on a broker; their contract is tested in tests/recommender.
schema = schema.exclude(path_regex=r"^/api/v1/(training-runs|model-versions)")


@pytest.fixture(scope="module")
def token(django_db_setup, django_db_blocker):
    """A committed shop, model and staff token (the app answers on its own connection)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from rest_framework.authtoken.models import Token

    from accounts.roles import BACKEND, ensure_role_groups
    from behavior.models import Event, Shopper
    from catalog.models import Category, Product, Promotion
    from recommender.models import ModelVersion, TrainingRun
    from tests.serving.conftest import build_shop, train

    with django_db_blocker.unblock():
        build_shop(n_shoppers=30, n_events=600)
        train("item_knn", "popularity")
        user = get_user_model().objects.create_user(username="schema-staff", is_staff=True)
        user.user_permissions.add(
            *Permission.objects.filter(codename__in=["add_trainingrun", "change_modelversion"])
        )
        # The shop back-end's writes, as a client made by create_api_client holds them.
        user.groups.add(ensure_role_groups()[BACKEND])
        key = Token.objects.create(user=user).key
        yield key
        Event.objects.all().delete()
        Shopper.objects.all().delete()
        Promotion.objects.all().delete()
        Product.objects.all().delete()
        Category.objects.filter(parent__isnull=False).delete()
        Category.objects.all().delete()
        ModelVersion.objects.all().delete()
        TrainingRun.objects.all().delete()
        user.delete()


@pytest.fixture(autouse=True)
def _keep_test_connection():
    """As Django's test client does: a WSGI request must not close the test's DB connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _serving_reset(settings):
    settings.SHELFWISE_MODEL_CHECK_SECONDS = 0


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_answers_within_its_schema(case, token):
    # Input leniency is deliberate (numeric shopper ids and prices are accepted where the schema
    # says string), so "invalid data accepted" is not a failure; everything about responses is.
    case.call_and_validate(
        headers={"Authorization": f"Token {token}"},
        excluded_checks=[negative_data_rejection, positive_data_acceptance],
    )
