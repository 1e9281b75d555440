"""API clients: a user with no password, one role group and a DRF token.

A role is a group holding exactly the permissions the API's write checks ask for, so a shop
back-end's token can change the catalog, shoppers and events and start training, and a reader's
token can change nothing. The permission names come from each app's ``permissions`` module:
the rule the API, the admin and the dashboard check is the one the group grants.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from rest_framework.authtoken.models import Token

from behavior.permissions import EVENT_WRITE_PERMISSIONS, SHOPPER_WRITE_PERMISSIONS
from catalog.permissions import PRODUCT_WRITE_PERMISSIONS
from recommender.permissions import TRAIN_PERMISSION

BACKEND, READER = "backend", "reader"
ROLE_GROUPS: dict[str, str] = {BACKEND: "Shop back-end", READER: "Reader"}
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    BACKEND: frozenset(
        {
            *PRODUCT_WRITE_PERMISSIONS,
            *EVENT_WRITE_PERMISSIONS,
            *SHOPPER_WRITE_PERMISSIONS,
            TRAIN_PERMISSION,
        }
    ),
    READER: frozenset(),
}


class ApiClientError(ValueError):
    """The client cannot be created or rotated as asked (the message says why)."""


@dataclass(frozen=True)
class ApiClient:
    user: AbstractBaseUser
    token: str
    created: bool


def ensure_role_groups() -> dict[str, Group]:
    """Create the role groups if missing and reset each to exactly its permissions."""
    groups = {}
    for role, name in ROLE_GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(_permissions(ROLE_PERMISSIONS[role]))
        groups[role] = group
    return groups


@transaction.atomic
def create_api_client(*, name: str, role: str, rotate: bool = False) -> ApiClient:
    """A new API client with a fresh token; with ``rotate`` an existing client's token is
    replaced (and its role set to ``role``). Raises ``ApiClientError``, writing nothing."""
    if role not in ROLE_GROUPS:
        raise ApiClientError(f"Unknown role {role!r}; choose from: {', '.join(ROLE_GROUPS)}.")
    try:
        UnicodeUsernameValidator()(name)
    except ValidationError as exc:
        raise ApiClientError(f"Invalid client name {name!r}: {' '.join(exc.messages)}") from None
    if len(name) > 150:
        raise ApiClientError("A client name has at most 150 characters.")
    groups = ensure_role_groups()
    user_model = get_user_model()
    user = user_model.objects.select_for_update().filter(username=name).first()
    created = user is None
    if created:
        user = user_model.objects.create_user(username=name)  # no password: it cannot log in
    elif not rotate:
        raise ApiClientError(
            f"An account named {name!r} already exists; pass --rotate to replace its token."
        )
    elif user.has_usable_password() or user.is_staff or user.is_superuser:
        # A person's account: a token would let a script act with all of their rights.
        raise ApiClientError(f"{name!r} is a person's account, not an API client.")
    user.groups.remove(*(g for r, g in groups.items() if r != role))
    user.groups.add(groups[role])
    Token.objects.filter(user=user).delete()
    return ApiClient(user=user, token=Token.objects.create(user=user).key, created=created)


def _permissions(names: frozenset[str]) -> list[Permission]:
    if not names:
        return []
    condition = Q()
    for name in names:
        app_label, codename = name.split(".")
        condition |= Q(content_type__app_label=app_label, codename=codename)
    found = list(Permission.objects.filter(condition).select_related("content_type"))
    missing = names - {f"{p.content_type.app_label}.{p.codename}" for p in found}
    if missing:  # only before `migrate` has created them
        raise ApiClientError(f"Permissions not in the database (run migrate): {sorted(missing)}.")
    return found
