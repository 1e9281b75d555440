"""The client's address, read the way the API's throttles read it (``API_NUM_PROXIES``).

Login lockouts (django-axes) key on it: with a proxy in front, REMOTE_ADDR is the proxy's
address for everyone, and X-Forwarded-For's leftmost entries are whatever the client wrote.
"""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework.settings import api_settings


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR with no proxy; behind N proxies, the address the outermost proxy saw (the
    Nth X-Forwarded-For entry from the right), exactly as DRF's throttles identify clients."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = api_settings.NUM_PROXIES
    forwarded = request.headers.get("x-forwarded-for")
    if not proxies or not forwarded:
        return remote
    addresses = forwarded.split(",")
    return addresses[-min(proxies, len(addresses))].strip()
