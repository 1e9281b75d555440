"""schemathesis against the served OpenAPI schema: every operation, then stateful sequences
along the links schemathesis infers between operations, with every check on; zero failures.

Requests go to the WSGI app (the ``from_wsgi`` transport; the pytest fixture loader crashed
under pytest 9, see ECOSYSTEM.md) as a superuser with an API token, against a small shop with
trained models. Generation is derandomized and bounded, so a run is repeatable and takes about
two minutes. Marked ``schemathesis``: ``-m "not schemathesis"`` skips it locally.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from config.wsgi import application

# The schema is generated in-process (loading it over WSGI at import time would touch the
# non-test database); requests then go to the WSGI app as ``from_wsgi`` sends them.
schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
schema.app = application
# PostgreSQL text cannot hold NUL, so every text field refuses it (config/storable.py, tested
# in tests/test_api_bad_input.py); OpenAPI 3.0 cannot say so for free-form attributes.
schema.config.generation.update(allow_x00=False)

pytestmark = [pytest.mark.django_db, pytest.mark.schemathesis]

# Checks that cannot apply to an operation, and why; every other check runs everywhere.
INAPPLICABLE = {
    # A batch answers 200 with a status per item, "invalid" with its errors: the rejection of
    # a bad item is in the body, which negative_data_rejection cannot see.
    "POST /api/v1/events": [negative_data_rejection],
    "POST /api/v1/products/bulk": [negative_data_rejection],
    # Valid input that the stored state refuses: a schema cannot say which algorithm has a
    # champion to roll back from, or which version may be promoted.
    "POST /api/v1/model-versions/rollback": [positive_data_acceptance],
    "POST /api/v1/model-versions/{version_id}/promote": [positive_data_acceptance],
    # Interests name categories that must exist.
    "PUT /api/v1/shoppers/{external_id}": [positive_data_acceptance],
}

HYPOTHESIS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)


@pytest.fixture(scope="module")
def token(django_db_setup, django_db_blocker):
    """A committed shop, trained models and a superuser's token (the app answers on its own
    connection)."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from behavior.models import Event, Shopper
    from catalog.models import Category, Product, Promotion
    from placements.models import Placement
    from recommender.models import ModelVersion, TrainingRun
    from tests.serving.conftest import build_shop, train

    with django_db_blocker.unblock():
        build_shop(n_shoppers=30, n_events=600)
        train("item_knn", "popularity")
        # A placement by a known name, so the generated requests reach its 200 too.
        Placement.objects.create(name="home", title="Home", strategy="for_you", k=5)
        user = get_user_model().objects.create_superuser("schema-admin", "s@example.com", "pw")
        key = Token.objects.create(user=user).key
        yield key
        Placement.objects.all().delete()
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
@HYPOTHESIS
def test_every_operation_answers_within_its_schema(case, token):
    case.call_and_validate(
        headers={"Authorization": f"Token {token}"},
        excluded_checks=INAPPLICABLE.get(case.operation.label, []),
    )


class Workflow(schema.as_state_machine()):
    """Sequences of calls along the inferred links (create a product, then read, patch or ask
    for its similar items; start a run, then read it...)."""

    token = ""

    # Each scenario starts from the same shop: hypothesis replays scenarios to shrink them and
    # requires the same steps to be possible each time.
    def setup(self):
        self.savepoint = transaction.savepoint()
        cache.clear()

    def teardown(self):
        transaction.savepoint_rollback(self.savepoint)

    def get_call_kwargs(self, case):
        return {"headers": {"Authorization": f"Token {self.token}"}}

    def validate_response(self, response, case, additional_checks=None, **kwargs):
        case.validate_response(
            response,
            additional_checks=additional_checks,
            excluded_checks=INAPPLICABLE.get(case.operation.label, []),
            headers=kwargs.get("headers"),
            transport_kwargs=kwargs or None,
            recorder=getattr(self, "recorder", None),
        )


def test_stateful_sequences_answer_within_the_schema(token):
    Workflow.token = token

    Workflow.run(
        settings=settings(
            HYPOTHESIS,
            max_examples=50,
            stateful_step_count=6,
            suppress_health_check=list(HealthCheck),
        )
    )
