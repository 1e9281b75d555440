"""The protocol every Shelfwise algorithm follows: fit, score, recommend, explain.

Everything here is plain numpy/scipy: no Django, no settings. The input checks are in
``checks``, saving and loading in ``persistence``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recommender.core.checks import (
    NotFittedError,
    check_ids,
    check_item_id,
    check_user_items,
    check_weights,
)
from recommender.core.kernels import FLOAT
from recommender.core.persistence import Persistent
from recommender.core.ranking import top_k, top_k_row


class Recommender(Persistent):
    """Base class: subclasses implement ``fit``, ``score_from_rows`` and ``similar_items``;
    batching, masking, top-k and (from ``Persistent``) saving and loading are shared here.

    Subclasses declare their hyper-parameters in ``params`` and the names of their learned
    arrays in ``artifact_arrays``; ``save``/``load`` round-trip both without pickle.
    """

    name: ClassVar[str] = "base"
    # Read by the shared contract test (tests/core/test_contract.py):
    # ``personalized`` False means scores ignore the shopper (popularity), so the cluster and
    # explain checks do not apply; ``needs_item_features`` True means ``for_contract_test``
    # receives an ``item_features`` CSR matrix of shape (n_items, n_features);
    # ``explicit_ratings`` True means the model reads stored values as ratings (absent =
    # unknown, low = disliked), so the contract matrix adds low ratings across clusters.
    personalized: ClassVar[bool] = True
    needs_item_features: ClassVar[bool] = False
    # False for a model whose fit reads only the matrix's shape, never its cells (the content
    # index is built from the catalog): no holdout is leaked by fitting it on every event, so
    # training fits it once instead of once for the holdout and again on the whole window.
    reads_interactions: ClassVar[bool] = True
    explicit_ratings: ClassVar[bool] = False
    # True for a model made of other fitted models (``Blend``): it is assembled from them, not
    # fitted from a matrix and its own params, so it cannot be trained by name on its own.
    composite: ClassVar[bool] = False

    n_users: int = 0
    n_items: int = 0

    # -- subclasses implement -------------------------------------------------
    def fit(self, user_items: sp.csr_matrix) -> Recommender:  # pragma: no cover - abstract
        raise NotImplementedError

    def score_users(self, user_ids: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        """Dense scores of shape (len(user_ids), n_items) for users known at fit time."""
        rows = user_items[user_ids]
        return self.score_from_rows(rows)

    def score_from_rows(self, rows: sp.csr_matrix) -> np.ndarray:  # pragma: no cover - abstract
        """Dense scores of shape (n_rows, n_items) for shoppers described by interaction rows."""
        raise NotImplementedError

    def similar_items(
        self, item_ids: Any, n: int = 10
    ) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    @property
    def params(self) -> dict[str, Any]:
        """Hyper-parameters as plain JSON-able values (saved with the artifact)."""
        return {}

    @classmethod
    def for_contract_test(cls, user_items: sp.csr_matrix, **fixtures: Any) -> Recommender:
        """A fitted instance on the contract test's tiny matrix (about 10 users x 8 items).

        Override to pass small hyper-parameters (few factors, fixed ``random_state``) or to
        use fixtures such as ``item_features`` (given when ``needs_item_features`` is True).
        """
        return cls().fit(user_items)

    # -- shared behaviour -----------------------------------------------------
    def _require_fitted(self) -> None:
        if self.n_items == 0:
            raise NotFittedError(f"{self.name} is not fitted; call fit() or load() first")

    def recommend(
        self,
        user_ids: Any,
        user_items: sp.csr_matrix,
        n: int = 10,
        exclude_seen: bool = True,
        candidates: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` items for each user.

        Parameters
        ----------
        user_ids : array of int, shape (n_queries,)
            Row indices into ``user_items``.
        user_items : csr_matrix, shape (n_users, n_items)
            Current interactions (may differ from the fit matrix: new events count).
        exclude_seen : bool
            Mask the items each user already interacted with.
        candidates : array of int, optional
            Restrict the ranking to these item indices.

        Returns
        -------
        ids, scores : arrays of shape (n_queries, n); ids are -1 (scores -inf) where fewer
            than ``n`` items are eligible.
        """
        self._require_fitted()
        user_items = check_user_items(user_items, n_items=self.n_items)
        user_ids = check_ids(user_ids, upper=user_items.shape[0], name="user_ids")
        rows = user_items[user_ids]
        scores = self.score_users(user_ids, user_items)
        return top_k(
            scores,
            n,
            exclude=rows if exclude_seen else None,
            candidates=_candidates(candidates, self.n_items),
        )

    def recommend_from_items(
        self,
        item_ids: Any,
        weights: Any = None,
        n: int = 10,
        exclude: Any = None,
        candidates: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` items for one shopper described only by recent (item, weight) pairs.

        This is the real-time path: the shopper need not exist at fit time.

        Returns
        -------
        ids, scores : arrays of shape (n,).
        """
        self._require_fitted()
        scores = self.score_items(item_ids, weights)
        exclude_ids = (
            None if exclude is None else check_ids(exclude, upper=self.n_items, name="exclude")
        )
        return top_k_row(
            scores, n, exclude=exclude_ids, candidates=_candidates(candidates, self.n_items)
        )

    def score_items(self, item_ids: Any, weights: Any = None) -> np.ndarray:
        """Scores of shape (n_items,) for one shopper given by (item, weight) pairs.

        Equal to ``score_from_rows(items_to_row(item_ids, weights))[0]``, which is what this
        default does; models override it with a dense path that skips building a scipy row
        (about 40 % of a request's time at 50k items).
        """
        return self.score_from_rows(self.items_to_row(item_ids, weights))[0]

    def request_pairs(self, item_ids: Any, weights: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Validated (item, weight) pairs with repeated items summed, items ascending.

        The dense counterpart of ``items_to_row``: same checks (ids in range, finite and
        non-negative weights, one weight per id), same sums, no sparse matrix.
        """
        item_ids = check_ids(item_ids, upper=self.n_items, name="item_ids")
        weights = check_weights(weights, length=item_ids.size, non_negative=True)
        # A history read from a CSR row is already strictly ascending: skip the sort.
        if item_ids.size > 1 and not (item_ids[1:] > item_ids[:-1]).all():
            item_ids, position = np.unique(item_ids, return_inverse=True)
            weights = np.bincount(position, weights=weights, minlength=item_ids.size)
            weights = weights.astype(FLOAT)
        return item_ids, weights

    def items_to_row(self, item_ids: Any, weights: Any = None) -> sp.csr_matrix:
        """One (1, n_items) CSR row from (item, weight) pairs; repeated items add up.

        Same checks as ``request_pairs``: ids in range, finite and non-negative weights.
        """
        item_ids = check_ids(item_ids, upper=self.n_items, name="item_ids")
        weights = check_weights(weights, length=item_ids.size, non_negative=True)
        row = sp.csr_matrix(
            (weights, (np.zeros(item_ids.size, dtype=np.int64), item_ids)),
            shape=(1, self.n_items),
            dtype=FLOAT,
        )
        row.sum_duplicates()
        return row

    def explain(self, item_id: int, item_ids: Any, weights: Any = None) -> tuple[int, float]:
        """The shopper's item that contributed most to ``item_id``'s score, and its share in [0, 1].

        Checks the request here, once for every model (``item_id`` and ``item_ids`` in range,
        weights finite, non-negative, one per id), then asks ``_explain``. Returns (-1, 0.0)
        when nothing the shopper touched relates to the item.
        """
        self._require_fitted()
        target = check_item_id(item_id, upper=self.n_items)
        item_ids = check_ids(item_ids, upper=self.n_items, name="item_ids")
        if weights is not None:
            # None stays None: a model may read "no weights" its own way (SVD: liked items).
            weights = check_weights(weights, length=item_ids.size, non_negative=True)
        return self._explain(target, item_ids, weights)

    def _explain(
        self, item_id: int, item_ids: np.ndarray, weights: np.ndarray | None
    ) -> tuple[int, float]:
        """``explain`` for checked arguments. The default uses item-item similarity; models
        override it where their score decomposes differently."""
        weights = check_weights(weights, length=item_ids.size)
        if item_ids.size == 0:
            return -1, 0.0
        contributions = weights * self.item_similarity(item_id, item_ids)
        total = float(np.abs(contributions).sum())
        best = int(np.argmax(contributions))
        if contributions[best] <= 0 or total == 0:
            return -1, 0.0
        return int(item_ids[best]), float(contributions[best] / total)

    def item_similarity(self, item_id: int, other_ids: np.ndarray) -> np.ndarray:
        """Similarity of ``item_id`` to each of ``other_ids`` (used by ``explain``)."""
        raise NotImplementedError(f"{self.name} does not define item similarity")

    def item_similarities(self, item_ids: Any, target_ids: Any) -> np.ndarray:
        """``item_similarity`` for many targets at once: shape (len(item_ids), len(target_ids)),
        column t holding ``item_similarity(target_ids[t], item_ids)``.

        Serving explains a whole response (ten picks) in one call; models override this with
        one gather or one product where their similarity is a matrix.
        """
        self._require_fitted()
        item_ids = check_ids(item_ids, upper=self.n_items, name="item_ids")
        target_ids = check_ids(target_ids, upper=self.n_items, name="target_ids")
        if not target_ids.size:
            return np.zeros((item_ids.size, 0), dtype=FLOAT)
        return np.asarray(self._similarity_block(item_ids, target_ids), dtype=FLOAT)

    def _similarity_block(self, item_ids: np.ndarray, target_ids: np.ndarray) -> np.ndarray:
        """``item_similarities`` for validated ids; override with one gather or product."""
        columns = [self.item_similarity(int(target), item_ids) for target in target_ids.tolist()]
        return np.column_stack(columns)


def _candidates(candidates: Any, n_items: int) -> np.ndarray | None:
    if candidates is None:
        return None
    return check_ids(candidates, upper=n_items, name="candidates")
