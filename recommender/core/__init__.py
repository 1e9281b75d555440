"""Shelfwise's numeric core: plain numpy/scipy, no Django.

``ALGORITHMS`` maps each algorithm's name to its class; every class follows the protocol in
``recommender.core.base.Recommender``.
"""

from recommender.core.als import ALS
from recommender.core.base import Recommender
from recommender.core.blend import Blend
from recommender.core.checks import FitError, NotFittedError
from recommender.core.content import ContentModel
from recommender.core.ease import EASE
from recommender.core.knn import ItemKNN
from recommender.core.popularity import Popularity, Trending
from recommender.core.rp3beta import RP3Beta
from recommender.core.svd import SVD
from recommender.core.user_knn import UserKNN

ALGORITHMS: dict[str, type[Recommender]] = {
    "als": ALS,
    "svd": SVD,
    "ease": EASE,
    "content": ContentModel,
    "popularity": Popularity,
    "trending": Trending,
    "item_knn": ItemKNN,
    "rp3beta": RP3Beta,
    "user_knn": UserKNN,
    "blend": Blend,
}

__all__ = ["ALGORITHMS", "FitError", "NotFittedError", "Recommender"]
