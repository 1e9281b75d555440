"""manage.py create_api_client NAME --role backend|reader [--rotate]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.roles import ROLE_GROUPS, ApiClientError, create_api_client


class Command(BaseCommand):
    help = (
        "Create an API client (a user without a password, its role group and a DRF token) and "
        "print the token once on stdout. --role backend: writes the catalog, shoppers and "
        "events and starts training; --role reader: reads only. An existing name is refused "
        "unless --rotate, which replaces its token (the old one stops working at once)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The client's username, e.g. shop-backend.")
        parser.add_argument("--role", required=True, choices=sorted(ROLE_GROUPS))
        parser.add_argument("--rotate", action="store_true", help="Replace an existing token.")

    def handle(self, *args: Any, name: str, role: str, rotate: bool, **options: Any) -> None:
        try:
            client = create_api_client(name=name, role=role, rotate=rotate)
        except ApiClientError as exc:
            raise CommandError(str(exc)) from exc
        verb = "Created" if client.created else "Rotated the token of"
        self.stderr.write(
            f"{verb} API client {name!r} ({ROLE_GROUPS[role]}). The token below is shown "
            "once: store it now (header: Authorization: Token <token>)."
        )
        self.stdout.write(client.token)
