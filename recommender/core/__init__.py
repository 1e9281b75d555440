"""Shelfwise's numeric core: plain numpy/scipy, no Django.

``ALGORITHMS`` maps each algorithm's name to its class; every class follows the protocol in
``recommender.core.base.Recommender``.
"""

from recommender.core.base import FitError, NotFittedError, Recommender

ALGORITHMS: dict[str, type[Recommender]] = {}

__all__ = ["ALGORITHMS", "FitError", "NotFittedError", "Recommender"]
