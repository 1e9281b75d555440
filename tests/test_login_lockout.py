"""Login lockout (django-axes): a username and address pair is refused after repeated wrong
passwords, on the dashboard's login and the admin's, until the cool-off passes or it is reset."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from axes.utils import reset
from django.conf import settings
from django.test import Client
from django.utils import timezone

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"  # the staff_user fixture's
LOGINS = {"dashboard": "/accounts/login/", "admin": "/admin/login/"}


def _log_in(client: Client, url: str, username: str, password: str, **headers: str):
    return client.post(url, {"username": username, "password": password}, **headers)


def _lock_out(client: Client, url: str, username: str, **headers: str) -> list[int]:
    return [
        _log_in(client, url, username, "wrong", **headers).status_code
        for _ in range(settings.AXES_FAILURE_LIMIT)
    ]


@pytest.mark.parametrize("login", LOGINS)
def test_after_the_failure_limit_the_right_password_is_refused_with_a_429_page(staff_user, login):
    client = Client()

    failures = _lock_out(client, LOGINS[login], staff_user.username)
    response = _log_in(client, LOGINS[login], staff_user.username, PASSWORD)

    assert settings.AXES_FAILURE_LIMIT == 5
    assert failures[:-1] == [200] * 4  # the form again, with its error
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "for 15 minutes" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_fewer_failures_than_the_limit_then_the_right_password_logs_in(staff_user):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _log_in(client, LOGINS["dashboard"], staff_user.username, "wrong")

    response = _log_in(client, LOGINS["dashboard"], staff_user.username, PASSWORD)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(staff_user.pk)


def test_another_user_from_the_same_address_is_not_locked(staff_user, django_user_model):
    django_user_model.objects.create_user(
        "colleague", password="another-long-password", is_staff=True
    )
    _lock_out(Client(), LOGINS["dashboard"], staff_user.username)

    response = _log_in(Client(), LOGINS["dashboard"], "colleague", "another-long-password")

    assert response.status_code == 302


def test_the_same_user_from_another_address_is_not_locked(staff_user):
    _lock_out(Client(), LOGINS["dashboard"], staff_user.username, REMOTE_ADDR="203.0.113.7")

    response = _log_in(
        Client(), LOGINS["dashboard"], staff_user.username, PASSWORD, REMOTE_ADDR="198.51.100.2"
    )

    assert response.status_code == 302


def test_after_the_cool_off_the_right_password_logs_in_again(staff_user):
    client = Client()
    _lock_out(client, LOGINS["dashboard"], staff_user.username)
    assert _log_in(client, LOGINS["dashboard"], staff_user.username, PASSWORD).status_code == 429

    # The failures were made 16 minutes ago (the cool-off is 15).
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    response = _log_in(client, LOGINS["dashboard"], staff_user.username, PASSWORD)

    assert response.status_code == 302


def test_a_reset_lifts_the_lockout(staff_user):
    client = Client()
    _lock_out(client, LOGINS["dashboard"], staff_user.username)

    reset(username=staff_user.username)
    response = _log_in(client, LOGINS["dashboard"], staff_user.username, PASSWORD)

    assert response.status_code == 302


def test_a_forged_forwarded_address_does_not_escape_the_lockout(staff_user):
    # No proxy configured (API_NUM_PROXIES=0): X-Forwarded-For is the client's own claim.
    client = Client()
    _lock_out(client, LOGINS["dashboard"], staff_user.username, HTTP_X_FORWARDED_FOR="10.0.0.1")

    response = _log_in(
        client, LOGINS["dashboard"], staff_user.username, PASSWORD, HTTP_X_FORWARDED_FOR="10.9.9.9"
    )

    assert response.status_code == 429


def test_behind_one_proxy_the_address_the_proxy_saw_is_the_clients(staff_user, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = {"REMOTE_ADDR": "172.18.0.5"}
    _lock_out(
        Client(), LOGINS["dashboard"], staff_user.username, HTTP_X_FORWARDED_FOR="1.2.3.4", **proxy
    )

    elsewhere = _log_in(
        Client(),
        LOGINS["dashboard"],
        staff_user.username,
        PASSWORD,
        HTTP_X_FORWARDED_FOR="5.6.7.8",
        **proxy,
    )
    same = _log_in(
        Client(),
        LOGINS["dashboard"],
        staff_user.username,
        PASSWORD,
        HTTP_X_FORWARDED_FOR="9.9.9.9, 1.2.3.4",  # a spoofed entry left of the proxy's
        **proxy,
    )

    assert elsewhere.status_code == 302
    assert same.status_code == 429
