"""Shelfwise's numeric core: plain numpy/scipy, no Django.

``ALGORITHMS`` maps each algorithm's name to its class; every class follows the protocol in
``recommender.core.base.Recommender``.
"""

from recommender.core.als import ALS
from recommender.core.base import FitError, NotFittedError, Recommender

ALGORITHMS: dict[str, type[Recommender]] = {
    "als": ALS,
}

__all__ = ["ALGORITHMS", "FitError", "NotFittedError", "Recommender"]
