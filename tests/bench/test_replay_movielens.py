"""bench.replay_movielens: MovieLens files → the import commands' CSVs → stored events."""

from __future__ import annotations

import csv
import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import call_command

from behavior.models import Event, EventKind
from bench.replay_movielens import convert
from catalog.models import Product

GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy"]


def _gzip(path: Path, text: str, encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding=encoding, newline="") as fh:
        fh.write(text)


def _ml100k(root: Path) -> None:
    folder = root / "movielens_100k"
    _gzip(folder / "u.genre.gz", "".join(f"{g}|{n}\n" for n, g in enumerate(GENRES)) + "\n")
    _gzip(
        folder / "u.item.gz",
        "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1\n"
        "2|Café Society (1995)|||http://x|0|1|1|0|0|0\n",
        encoding="latin-1",
    )
    # user, movie, rating, time: user 7 rated movie 2 with 3 (dropped), two 4+ ratings kept.
    _gzip(folder / "u.data.gz", "7\t1\t5\t881250949\n7\t2\t3\t881250950\n12\t2\t4\t891717742\n")


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_ratings_of_4_or_more_become_rating_events_with_their_value_and_time(tmp_path):
    _ml100k(tmp_path)

    converted = convert("movielens_100k", tmp_path / "out", root=tmp_path)

    assert (converted.n_products, converted.n_ratings, converted.n_events) == (2, 3, 2)
    events = _read(converted.events)
    assert [(e["shopper"], e["product"], e["kind"], e["value"]) for e in events] == [
        ("7", "1", "rating", "5"),
        ("12", "2", "rating", "4"),
    ]
    assert events[0]["occurred_at"] == "1997-12-04T15:55:49Z"
    assert events[0]["event_id"] == "movielens_100k:7:1"
    products = _read(converted.products)
    assert products[0]["category"] == "Movies/Animation"
    assert products[0]["description"] == "Animation, Children's, Comedy"
    assert products[1]["title"] == "Café Society (1995)"


@pytest.mark.django_db
def test_a_converted_latest_small_set_loads_through_the_import_commands(tmp_path):
    folder = tmp_path / "movielens_latest_small"
    _gzip(
        folder / "movies.csv.gz",
        "movieId,title,genres\n"
        '10,"American President, The (1995)",Comedy|Drama|Romance\n'
        "20,Nothing (2000),(no genres listed)\n",
    )
    _gzip(
        folder / "ratings.csv.gz",
        "userId,movieId,rating,timestamp\n1,10,4.5,964982703\n1,20,0.5,964982224\n"
        "2,20,4.0,964983000\n",
    )
    converted = convert("movielens_latest_small", tmp_path / "out", root=tmp_path)

    call_command("import_products", str(converted.products), no_progress=True)
    call_command("import_events", str(converted.events), no_progress=True)

    stored = Event.objects.order_by("occurred_at")
    assert [(e.shopper.external_id, e.product.sku, e.kind, e.value) for e in stored] == [
        ("1", "10", EventKind.RATING, 4.5),
        ("2", "20", EventKind.RATING, 4.0),
    ]
    assert stored[0].occurred_at == datetime.fromtimestamp(964982703, tz=UTC)
    comedy = Product.objects.get(sku="10")
    assert (comedy.category.name, comedy.category.parent.name) == ("Comedy", "Movies")
    assert comedy.attributes == {"genres": ["Comedy", "Drama", "Romance"]}
    assert Product.objects.get(sku="20").category.name == "Movies"
