"""``/health/``: readiness for load balancers, and a detailed report for staff or a token.

Anyone (a load balancer, an orchestrator) gets ``{"status": "ok"}`` with 200 or
``{"status": "unavailable"}`` with 503, from the checks web needs to answer requests:
PostgreSQL and the Redis cache. Nothing else is said to them: no hosts, no error text.

Staff (logged in) or a caller sending ``Authorization: Bearer <SHELFWISE_HEALTH_TOKEN>`` also get
every check's result, including the Celery workers (a ping, 1 s) and beat (age of the newest
periodic task it sent). Those two are reported, never failing readiness: a web process without a
live worker still serves recommendations, and a load balancer taking every web process out
because a worker died would turn a stalled queue into an outage (``status`` is then
``degraded``). They are skipped when tasks run in-process (the embedded demo has neither).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Max
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from health_check.base import HealthCheck, HealthCheckResult
from health_check.checks import Cache, Database
from health_check.contrib.celery import Ping
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView

READINESS = (Database, Cache)


def beat_last_tick() -> datetime | None:
    """When beat last sent an enabled periodic task (DatabaseScheduler saves it every 3 min)."""
    from django_celery_beat.models import PeriodicTask

    return PeriodicTask.objects.filter(enabled=True).aggregate(last=Max("last_run_at"))["last"]


def beat_age(*, now: datetime) -> timedelta | None:
    last = beat_last_tick()
    return None if last is None else now - last


@dataclasses.dataclass
class BeatTick(HealthCheck):
    """Beat sent a periodic task within ``SHELFWISE_BEAT_MAX_AGE_SECONDS``.

    Beat's own record (``last_run_at``), not a task it schedules: a heartbeat task would need a
    live worker too, and workers have their own check.
    """

    def run(self) -> None:
        try:
            age = beat_age(now=timezone.now())
        finally:
            connection.close()  # this executor thread's own connection
        limit = settings.SHELFWISE_BEAT_MAX_AGE_SECONDS
        if age is None:
            raise ServiceUnavailable("beat has never sent a periodic task")
        if age.total_seconds() > limit:
            raise ServiceUnavailable(f"beat last sent a task {int(age.total_seconds())} s ago")


class HealthView(HealthCheckView):
    async def get(self, request: HttpRequest, *args, **kwargs) -> JsonResponse:
        detailed = await _may_see_details(request)
        self.checks = [Database, Cache] + ([] if not detailed or _eager() else [_workers, BeatTick])
        with self.get_executor() as executor:
            self.results = await asyncio.gather(
                *(check.get_result(executor) for check in self.get_checks())
            )
        ready = not any(r.error for r in self.results if isinstance(r.check, READINESS))
        body: dict = {"status": "ok" if ready else "unavailable"}
        if detailed:
            if ready and any(r.error for r in self.results):
                body["status"] = "degraded"
            body["checks"] = {_name(r): _outcome(r) for r in self.results}
        return JsonResponse(body, status=200 if ready else 503)


def _workers() -> Ping:
    return Ping(timeout=timedelta(seconds=1))


def _eager() -> bool:
    from config.celery import app

    return bool(app.conf.task_always_eager)


async def _may_see_details(request: HttpRequest) -> bool:
    token = settings.SHELFWISE_HEALTH_TOKEN
    sent = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return True
    user = await request.auser()
    return bool(user.is_active and user.is_staff)


def _name(result: HealthCheckResult) -> str:
    names = {Database: "database", Cache: "cache", Ping: "celery_workers", BeatTick: "beat"}
    return names.get(type(result.check), type(result.check).__name__)


def _outcome(result: HealthCheckResult) -> dict:
    return {
        "ok": result.error is None,
        "detail": "OK" if result.error is None else str(result.error),
        "seconds": round(result.time_taken, 3),
        "required": isinstance(result.check, READINESS),
    }
