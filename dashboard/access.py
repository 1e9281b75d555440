"""What every dashboard page shares: the staff gate and pagination."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse

PER_PAGE = 25

View = Callable[..., HttpResponse]


def staff_page(view: View) -> View:
    """Anonymous visitors go to the login page; signed-in non-staff get 403."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_staff:
            raise PermissionDenied("The dashboard is for staff accounts.")
        return view(request, *args, **kwargs)

    return login_required(wrapped)


def require_permission(request: HttpRequest, permission: str) -> None:
    """403 unless the user holds ``permission`` (superusers hold every one)."""
    if not request.user.has_perm(permission):
        raise PermissionDenied(f"This needs the {permission!r} permission.")


def page_of(request: HttpRequest, items, *, per_page: int = PER_PAGE) -> Page:
    """The requested page (``?page=``); out-of-range or junk numbers give the nearest page."""
    return Paginator(items, per_page).get_page(request.GET.get("page"))


def query_without_page(request: HttpRequest) -> str:
    """The current query string minus ``page``, ready to prefix ``page=N`` (ends with & if any)."""
    params = request.GET.copy()
    params.pop("page", None)
    encoded = params.urlencode()
    return f"{encoded}&" if encoded else ""
