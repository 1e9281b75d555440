"""Replay benchmark on MovieLens: load a MovieLens data set into a fresh shop through the
product's own import commands, then score what the shop serves with ``manage.py evaluate``.

    nice -n 19 .venv/bin/python -m bench.replay_movielens --dataset movielens_100k \\
        [--database shelfwise_bench] [--json /tmp/replay-ml100k.json] [--tuning-budget S] \\
        [--no-evaluate] [--data-root ../shared/datasets]

Each run drops and creates the database (``--database`` on the server of DATABASE_URL), flushes
the Redis database of REDIS_URL (the shop's real-time lists and caches: give the bench its own),
migrates, converts the data set (read in place from ``../shared/datasets``) into a products CSV
and an events CSV in a temporary folder, and stores them with ``manage.py import_products`` and
``manage.py import_events``. Then ``manage.py evaluate`` replays the shop at the reference
scorer's global cut and prints its table.

The conversion:

- **Products**: every movie of the catalog file, sku = the movie id (so skus sort as
  ``evaluate.py`` sorts its raw ids and ties in time break the same way), title as given,
  price 0 (the files have none), category ``Movies/<first genre listed>`` (a product has one
  category; the path keeps names such as ``Film-Noir`` as written), every genre in the
  description and in ``attributes`` (``{"genres": [...]}``; ml-100k adds the release date).
- **Events**: one ``rating`` event per rating **of 4 or more** (``bench.datasets``'s implicit
  convention, and ``evaluate.py``'s ``ml100k-r4`` / ``mlsmall-r4``), value = the rating,
  ``occurred_at`` = its timestamp, shopper = the user id, event id
  ``<dataset>:<user>:<movie>``. Lower ratings are left out because the product reads every
  event of a kind with weight as interest: training weighs a rating by its kind weight times
  ``log1p(value)`` (a 1-star still counts 0.69), and the replay's split takes every such event
  as a positive, so storing them would make "disliked" a positive in both.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
# evaluate.py's variable; the default is ../shared/datasets from the project root (a git worktree
# elsewhere sets it).
DATA_ROOT = Path(os.environ.get("SHARED_DATASETS", ROOT.parent / "shared" / "datasets"))
MIN_RATING = 4.0  # bench.datasets.MOVIELENS_MIN_RATING (not imported: that module needs numpy)
DATASETS = ("movielens_100k", "movielens_latest_small")
PRODUCT_COLUMNS = ("sku", "title", "description", "category", "price", "attributes")
EVENT_COLUMNS = ("event_id", "shopper", "product", "kind", "value", "occurred_at")


@dataclass(frozen=True)
class Movie:
    sku: str
    title: str
    genres: tuple[str, ...]
    extra: dict[str, str]


@dataclass(frozen=True)
class Rating:
    user: str
    movie: str
    rating: float
    timestamp: int


@dataclass(frozen=True)
class Converted:
    products: Path
    events: Path
    n_products: int
    n_ratings: int
    n_events: int  # ratings >= min_rating


def _text(path: Path, encoding: str = "utf-8") -> io.TextIOBase:
    return gzip.open(path, "rt", encoding=encoding, newline="")


def movies(dataset: str, root: Path = DATA_ROOT) -> Iterator[Movie]:
    """Every movie of ``dataset``'s catalog file, in file order."""
    folder = root / dataset
    if dataset == "movielens_100k":
        # u.item and u.genre are Latin-1, "|"-separated; u.item's last 19 fields are genre flags.
        with _text(folder / "u.genre.gz", "latin-1") as fh:
            names = [line.split("|")[0] for line in fh if line.strip()]
        with _text(folder / "u.item.gz", "latin-1") as fh:
            for line in fh:
                if not line.strip():
                    continue
                fields = line.rstrip("\n").split("|")
                flags = fields[5 : 5 + len(names)]
                genres = tuple(n for n, f in zip(names, flags, strict=True) if f == "1")
                extra = {"release_date": fields[2]} if fields[2] else {}
                yield Movie(fields[0], fields[1], genres, extra)
    elif dataset == "movielens_latest_small":
        with _text(folder / "movies.csv.gz") as fh:
            for row in csv.DictReader(fh):
                genres = tuple(g for g in row["genres"].split("|") if g != "(no genres listed)")
                yield Movie(row["movieId"], row["title"], genres, {})
    else:
        raise ValueError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")


def ratings(dataset: str, root: Path = DATA_ROOT) -> Iterator[Rating]:
    """Every rating of ``dataset``, in file order."""
    folder = root / dataset
    if dataset == "movielens_100k":
        with _text(folder / "u.data.gz") as fh:
            for line in fh:
                if line.strip():
                    user, movie, rating, stamp = line.split()
                    yield Rating(user, movie, float(rating), int(stamp))
    elif dataset == "movielens_latest_small":
        with _text(folder / "ratings.csv.gz") as fh:
            for row in csv.DictReader(fh):
                yield Rating(
                    row["userId"], row["movieId"], float(row["rating"]), int(row["timestamp"])
                )
    else:
        raise ValueError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")


def product_row(movie: Movie) -> dict[str, str]:
    """The products CSV row of ``movie`` (see the module docstring)."""
    attributes = {"genres": list(movie.genres), **movie.extra}
    return {
        "sku": movie.sku,
        "title": movie.title[:255],
        "description": ", ".join(movie.genres),
        "category": f"Movies/{movie.genres[0]}" if movie.genres else "Movies",
        "price": "0",
        "attributes": json.dumps(attributes),
    }


def event_row(dataset: str, rating: Rating) -> dict[str, str]:
    """The events CSV row of one rating: a ``rating`` event with the rating as its value."""
    at = datetime.fromtimestamp(rating.timestamp, tz=UTC)
    return {
        "event_id": f"{dataset}:{rating.user}:{rating.movie}",
        "shopper": rating.user,
        "product": rating.movie,
        "kind": "rating",
        "value": f"{rating.rating:g}",
        "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def convert(
    dataset: str, folder: Path, *, root: Path = DATA_ROOT, min_rating: float = MIN_RATING
) -> Converted:
    """Write ``products.csv`` and ``events.csv`` of ``dataset`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    products, events = folder / "products.csv", folder / "events.csv"
    n_products = n_ratings = n_events = 0
    with products.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, PRODUCT_COLUMNS)
        writer.writeheader()
        for movie in movies(dataset, root):
            writer.writerow(product_row(movie))
            n_products += 1
    with events.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, EVENT_COLUMNS)
        writer.writeheader()
        for rating in ratings(dataset, root):
            n_ratings += 1
            if rating.rating >= min_rating:
                writer.writerow(event_row(dataset, rating))
                n_events += 1
    return Converted(products, events, n_products, n_ratings, n_events)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=DATASETS, default="movielens_100k")
    parser.add_argument("--database", default="shelfwise_bench")
    parser.add_argument("--json", metavar="PATH", help="manage.py evaluate --json PATH")
    parser.add_argument("--lists", metavar="DIR", help="manage.py evaluate --lists DIR")
    parser.add_argument("--tuning-budget", type=float, metavar="SECONDS")
    parser.add_argument("--no-evaluate", action="store_true", help="Load the shop only.")
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT, help=f"default {DATA_ROOT}")
    args = parser.parse_args(argv)

    server = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/x"))
    os.environ["DATABASE_URL"] = urlunsplit(server._replace(path=f"/{args.database}"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    _recreate(server, args.database)
    _flush_redis()

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    with tempfile.TemporaryDirectory(prefix=f"{args.dataset}-") as tmp:
        started, load = time.perf_counter(), os.getloadavg()[0]
        converted = convert(args.dataset, Path(tmp), root=args.data_root)
        print(
            f"{args.dataset}: {converted.n_products:,} movies, {converted.n_events:,} of "
            f"{converted.n_ratings:,} ratings >= {MIN_RATING:g} as rating events",
            flush=True,
        )
        call_command("import_products", str(converted.products), no_progress=True)
        call_command("import_events", str(converted.events), no_progress=True)
        print(
            f"loaded in {time.perf_counter() - started:.1f} s (load average {load:.1f} → "
            f"{os.getloadavg()[0]:.1f})",
            flush=True,
        )
    if args.no_evaluate:
        return 0
    options = {"json": args.json, "lists": args.lists, "tuning_budget": args.tuning_budget}
    started, load = time.perf_counter(), os.getloadavg()
    call_command("evaluate", **{k: v for k, v in options.items() if v is not None})
    end = os.getloadavg()
    print(
        f"evaluate: {time.perf_counter() - started:.0f} s; load average (1/5/15 min) "
        f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} → {end[0]:.1f}/{end[1]:.1f}/{end[2]:.1f}"
    )
    return 0


def _recreate(server, name: str) -> None:
    import psycopg

    admin = urlunsplit(server._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _flush_redis() -> None:
    url = os.environ.get("REDIS_URL")
    if url:
        import redis

        redis.Redis.from_url(url).flushdb()


if __name__ == "__main__":
    sys.exit(main())
