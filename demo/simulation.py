"""Simulated shoppers through the real API: ``manage.py simulate_traffic`` and the demo's week.

Each simulated day, every shopper comes with probability ``visits_per_day`` at a random time;
the visits run in time order. A visit asks the API for the shopper's ``for_you`` list, or a
``placement``'s (so a test running on it assigns the shopper a variant, whose ``lifts``
multiply the clicks), and, on ``product_page_share`` of visits, the similar items of a product
from it; it reacts to each list with ``demo.traffic.react`` (their planted taste: the declared
interests), and posts what they did through the events API: a view carrying the
recommendation id and position for a click, then for a buy an add-to-cart and a purchase
without them (credited through the click).

In process (the default) the requests go through Django's test client on a simulated clock:
``django.utils.timezone.now`` answers the visit's time while it runs, so serving, the impression
log and the events' checks all see the simulated day. Over HTTP (``url``) the server keeps its
own clock: the events are stamped from this process's clock at each visit, so the days
collapse into the run's real time. Each day's visits end ``REACTION_SECONDS`` before its end,
so a purchase that follows a visit still happens by the window's end (the shop's "now").
"""

from __future__ import annotations

import contextlib
import json
import random
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from accounts.roles import create_api_client
from demo.experiment import DEMO_LIFT, start_demo_experiment
from demo.selectors import shopper_tastes, simulated_shoppers
from demo.traffic import DEFAULT_MODEL, ItemOutcome, ShopperModel, TrafficReport, lift_of, react
from recommender.proof.drain import drain_impressions
from recommender.proof.kpis import refresh_kpis

Progress = Callable[[Iterable, str, int], Iterable]


class SimulationError(RuntimeError):
    """The API refused a simulated request: the message names the request and the answer."""


class InProcessApi:
    """The real API through Django's test client in this process (views, auth, throttling)."""

    def __init__(self, *, token: str) -> None:
        self.client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_HOST="localhost")

    def get(self, path: str, params: Mapping[str, str]) -> dict | None:
        return _answer(self.client.get(f"/api/v1/{path}", params), path)

    def send(self, events: list[dict]) -> None:
        body = json.dumps({"events": events})
        answer = self.client.post("/api/v1/events", body, content_type="application/json")
        _check_events(answer.status_code, answer.json() if answer.status_code == 200 else None)


class HttpApi:
    """The API of a running server at ``url``, with a backend token.

    The standard library's ``urllib.request``, not ``requests``: ``requests`` is a dev-only
    dependency, and the installed product must run this command without it.
    """

    def __init__(self, *, url: str, token: str, timeout: float = 30.0) -> None:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise SimulationError(f"--url must be an http(s) URL, got {url[:200]!r}.")
        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
        self.timeout = timeout

    def get(self, path: str, params: Mapping[str, str]) -> dict | None:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return _answer(self._call("GET", f"{self.url}/api/v1/{path}{query}"), path)

    def send(self, events: list[dict]) -> None:
        body = json.dumps({"events": events}).encode()
        answer = self._call("POST", f"{self.url}/api/v1/events", body=body)
        _check_events(answer.status_code, answer.json() if answer.status_code == 200 else None)

    def _call(self, method: str, url: str, *, body: bytes | None = None) -> HttpAnswer:
        headers = {**self.headers, **({"Content-Type": "application/json"} if body else {})}
        request = urllib.request.Request(url, data=body, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return HttpAnswer(status_code=response.status, content=response.read())
        except urllib.error.HTTPError as exc:  # an answer all the same: the caller reads it
            with exc:
                return HttpAnswer(status_code=exc.code, content=exc.read())
        except (urllib.error.URLError, OSError) as exc:  # refused, unknown host, timed out
            reason = getattr(exc, "reason", exc)
            raise SimulationError(f"{method} {url}: no answer from the server ({reason})") from exc


@dataclass(frozen=True)
class HttpAnswer:
    """What the server answered: the status and the body, read like the test client's."""

    status_code: int
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


def _answer(response, path: str) -> dict | None:
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        body = response.content[:300]
        raise SimulationError(f"GET {path}: HTTP {response.status_code}: {body!r}")
    return response.json()


def _check_events(status: int, body: dict | None) -> None:
    if body is None:
        raise SimulationError(f"POST events: HTTP {status}")
    if body["invalid"]:
        bad = [r for r in body["results"] if r["status"] == "invalid"][:3]
        raise SimulationError(f"POST events: {body['invalid']} invalid, e.g. {bad}")


@contextlib.contextmanager
def _clock(at: datetime | None) -> Iterator[None]:
    """``timezone.now()`` answers ``at`` inside (every caller reads it through the module)."""
    if at is None:
        yield
        return
    with mock.patch.object(timezone, "now", lambda: at):
        yield


def simulate_traffic(
    *,
    api: InProcessApi | HttpApi,
    shoppers: list[str],
    start: datetime,
    days: int,
    seed: int,
    model: ShopperModel = DEFAULT_MODEL,
    placement: str = "",
    lifts: Mapping[str, float] | None = None,
    simulated_clock: bool = True,
    event_prefix: str = "sim-",
    progress: Progress | None = None,
) -> TrafficReport:
    """Run ``days`` simulated days from ``start`` for ``shoppers`` (external ids) through
    ``api``; the same arguments on the same shop give the same visits and reactions.
    ``placement``: the placement each visit asks for (default the ``for_you`` slot);
    ``lifts``: click multipliers by variant name or key (``demo.traffic.lift_of``)."""
    rng = random.Random(seed)
    tastes = shopper_tastes(external_ids=shoppers)
    report = TrafficReport()
    visits = _visits(rng, shoppers=shoppers, start=start, days=days, model=model)
    steps = progress(visits, "Simulated visits", len(visits)) if progress else visits
    for n, (at, shopper) in enumerate(steps):
        with _clock(at if simulated_clock else None):
            _visit(
                api,
                rng,
                shopper=shopper,
                taste=tastes.get(shopper, frozenset()),
                visit_id=f"{event_prefix}{seed}-{n}",
                model=model,
                placement=placement,
                lifts=lifts or {},
                report=report,
            )
        report.visits += 1
    return report


# The longest a visit's reactions run after it (``_events``: click, cart, purchase).
REACTION_SECONDS = 120 + 600 + 1800


def _visits(rng, *, shoppers, start, days, model) -> list[tuple[datetime, str]]:
    # Each day's visits end early enough for their purchases to happen within the day: the
    # last day ends at the shop's "now", and an event after it would be dated in the future.
    latest = 86_400 - REACTION_SECONDS
    visits = [
        (start + timedelta(days=day, seconds=rng.uniform(0, latest)), shopper)
        for day in range(days)
        for shopper in shoppers
        if rng.random() < model.visits_per_day
    ]
    return sorted(visits)


def _visit(api, rng, *, shopper, taste, visit_id, model, placement, lifts, report) -> None:
    if placement:
        home = api.get(f"placements/{placement}/recommendations", {"shopper": shopper})
        if home is None:
            raise SimulationError(f"GET placement {placement!r}: no active placement by that name")
    else:
        home = api.get(f"shoppers/{shopper}/recommendations", {"slot": "for_you"})
    pages = [home] if home else []
    if home and home["results"] and rng.random() < model.product_page_share:
        sku = rng.choice(home["results"])["product"]["sku"]
        similar = api.get(f"products/{sku}/similar", {})
        pages += [similar] if similar else []
    events: list[dict] = []
    for page_number, page in enumerate(pages):
        if not page["results"]:
            continue
        skus = [r["product"]["sku"] for r in page["results"]]
        matches = [float(r["product"]["category_slug"] in taste) for r in page["results"]]
        variant = page.get("variant") or ""
        outcomes = react(
            skus=skus,
            matches=matches,
            rng=rng,
            lift=lift_of(variant, lifts),
            model=model,
            report=report,
        )
        report.count(variant=variant, outcomes=outcomes)
        # The visit's clock (the simulated one, or the real one against a server), not the
        # page's ``generated_at``: a cached list (a product's similar items) was generated
        # before this showing, and a click dated before it would be counted on the wrong day.
        events += _events(
            rng,
            page,
            outcomes,
            shopper=shopper,
            at=timezone.now(),
            page_id=f"{visit_id}-{page_number}",
        )
    if events:
        api.send(events)


def _events(rng, page, outcomes: list[ItemOutcome], *, shopper, at, page_id) -> list[dict]:
    """The events of one page's reactions; their ids name the seed, visit, page and position,
    so the same run gives the same events (the demo's fingerprint stays reproducible)."""
    rec_id = page["recommendation_id"]
    events = []
    for o in outcomes:
        if not o.clicked:
            continue
        clicked = at + timedelta(seconds=rng.uniform(5, 120))
        base = {"shopper": shopper, "product": o.sku, "value": 1}
        ids = {"recommendation_id": rec_id, "position": o.position}
        events.append(_event(base, ids, "view", clicked, f"{page_id}-v{o.position}"))
        if not o.bought:
            continue
        carted = clicked + timedelta(seconds=rng.uniform(30, 600))
        bought = carted + timedelta(seconds=rng.uniform(30, 1800))
        # No id on the cart or the purchase: a shop's basket and checkout rarely carry it; the
        # click earns them (last touch), and a click is counted once per day it is named.
        events.append(_event(base, {}, "add_to_cart", carted, f"{page_id}-c{o.position}"))
        events.append(_event(base, {}, "purchase", bought, f"{page_id}-p{o.position}"))
    return events


def _event(base: dict, ids: dict, kind: str, at: datetime, event_id: str) -> dict:
    return {**base, **ids, "kind": kind, "occurred_at": at.isoformat(), "event_id": event_id}


SIMULATOR_CLIENT = "traffic-simulator"


def in_process_api() -> InProcessApi:
    """The in-process API with the simulator's own backend token (made, or rotated, here)."""
    exists = get_user_model().objects.filter(username=SIMULATOR_CLIENT).exists()
    client = create_api_client(name=SIMULATOR_CLIENT, role="backend", rotate=exists)
    return InProcessApi(token=client.token)


def store_simulated_days(*, start: datetime, days: int, now: datetime) -> int:
    """Drain the simulated responses into ``Impression`` and refresh the KPIs of every day
    they touched (the worker's two tasks, run now); return the impressions stored."""
    stored = drain_impressions()
    for offset in range(days + 1):  # the day after: purchases late on the last day
        day = (start + timedelta(days=offset)).date()
        if day <= now.date():
            refresh_kpis(day=day, now=now)
    return stored


def simulate_demo_week(
    *,
    seed: int,
    now: datetime,
    shoppers: int,
    event_prefix: str,
    days: int = 7,
    progress: Progress | None = None,
) -> TrafficReport:
    """The demo's simulated traffic: ``shoppers`` of the shop for the ``days`` up to ``now``
    through the in-process API, on the demo's home placement with its A/B test started at the
    week's start (``demo.experiment``), then stored and refreshed, so the KPI and A/B pages
    have figures."""
    start = now - timedelta(days=days)
    placement = start_demo_experiment(seed=seed, now=start)
    report = simulate_traffic(
        api=in_process_api(),
        shoppers=simulated_shoppers(count=shoppers, seed=seed),
        start=start,
        days=days,
        seed=seed,
        placement=placement,
        lifts=DEMO_LIFT,
        event_prefix=event_prefix,
        progress=progress,
    )
    store_simulated_days(start=start, days=days, now=max(now, timezone.now()))
    return report
