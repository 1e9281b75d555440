"""manage.py create_api_client: a user, its role group and a token printed once."""

from __future__ import annotations

import subprocess
import sys
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from catalog.models import Product
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.django_db

BACKEND_PERMISSIONS = {
    "catalog.add_product",
    "catalog.change_product",
    "catalog.add_category",
    "behavior.add_event",
    "behavior.add_shopper",
    "behavior.change_shopper",
    "recommender.add_trainingrun",
}


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_api_client", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _group_permissions(name: str) -> set[str]:
    group = Group.objects.get(name=name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}


def _client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_a_backend_client_gets_a_token_printed_once_and_may_write_the_catalog():
    out, err = run("shop-backend", "--role", "backend")

    token = out.strip()
    user = get_user_model().objects.get(username="shop-backend")
    assert Token.objects.get(user=user).key == token
    assert "shown once" in err and token not in err
    assert not user.has_usable_password() and not user.is_staff
    assert [g.name for g in user.groups.all()] == ["Shop back-end"]
    response = _client(token).put(
        "/api/v1/products/MUG-1", {"title": "Mug", "price": "5.00"}, format="json"
    )
    assert response.status_code == 201
    assert Product.objects.filter(sku="MUG-1").exists()


def test_the_role_groups_hold_exactly_the_back_end_writes_and_nothing_for_readers():
    run("shop-backend", "--role", "backend")
    group = Group.objects.get(name="Shop back-end")
    group.permissions.clear()  # drifted by hand in the admin

    run("feed", "--role", "reader")

    assert Group.objects.filter(name__in=["Shop back-end", "Reader"]).count() == 2
    assert _group_permissions("Shop back-end") == BACKEND_PERMISSIONS
    assert _group_permissions("Reader") == set()


def test_a_reader_client_reads_but_cannot_write():
    out, _ = run("feed", "--role", "reader")
    client = _client(out.strip())

    read = client.get("/api/v1/products")
    write = client.put("/api/v1/products/MUG-1", {"title": "Mug", "price": "5.00"}, format="json")

    assert (read.status_code, write.status_code) == (200, 403)


def test_running_it_again_for_an_existing_name_fails_and_keeps_the_token():
    first, _ = run("shop-backend", "--role", "backend")

    with pytest.raises(CommandError, match="already exists; pass --rotate"):
        run("shop-backend", "--role", "backend")

    assert Token.objects.get().key == first.strip()


def test_rotate_replaces_the_token_and_the_old_one_stops_working():
    old, _ = run("shop-backend", "--role", "backend")

    new, err = run("shop-backend", "--role", "backend", "--rotate")

    assert new.strip() != old.strip() and "Rotated" in err
    assert Token.objects.get().key == new.strip()
    assert _client(old.strip()).get("/api/v1/products").status_code == 401
    assert _client(new.strip()).get("/api/v1/products").status_code == 200


def test_rotate_refuses_a_persons_account(staff_user):
    with pytest.raises(CommandError, match="is a person's account"):
        run(staff_user.username, "--role", "backend", "--rotate")

    assert not Token.objects.exists()
    assert not staff_user.groups.exists()


def test_an_invalid_name_is_refused_with_the_reason():
    with pytest.raises(CommandError, match="Invalid client name"):
        run("shop backend!", "--role", "backend")

    assert not get_user_model().objects.exists()


def test_the_command_exits_non_zero_on_the_command_line():
    result = subprocess.run(
        [sys.executable, "manage.py", "create_api_client", "x", "--role", "admin"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert "invalid choice: 'admin'" in result.stderr
