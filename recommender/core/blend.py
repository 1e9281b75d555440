"""``Blend``: several fitted models combined with weights, as one ``Recommender``.

It lives beside ``ranking.py`` rather than in it because ``base`` imports ``ranking.top_k``:
a ``Recommender`` subclass in ``ranking`` would make the import circular.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recommender.core.base import Recommender, check_ids, check_user_items, item_rows
from recommender.core.knn import ItemKNN
from recommender.core.popularity import Popularity
from recommender.core.ranking import Normalization, blend, top_k


class Blend(Recommender):
    """score = Σ_m w_m · normalize(score_m), per shopper (see ``ranking.blend``).

    Parameters
    ----------
    components : sequence of Recommender
        Models to combine, fitted or not: ``fit`` fits them all on the same matrix; models
        that need more than a matrix (content features) can be passed already fitted and the
        blend used without calling ``fit``.
    weights : sequence of float, optional
        One per component, >= 0 (default: equal).
    normalization : {"minmax", "rank"}
        How each component's scores are scaled before adding (``ranking.normalize_scores``).

    Persistence: ``save``/``save_dir`` write every component's arrays under a ``c{i}.`` prefix
    and their params in the metadata; ``load`` rebuilds them through ``ALGORITHMS``, so every
    component must be a registered algorithm.
    """

    name: ClassVar[str] = "blend"

    def __init__(
        self,
        components: Sequence[Recommender] = (),
        weights: Sequence[float] | None = None,
        normalization: Normalization = "minmax",
    ) -> None:
        self.components = list(components)
        if not self.components:
            raise ValueError("Blend needs at least one component model")
        if weights is None:
            weights = [1.0] * len(self.components)
        if len(weights) != len(self.components):
            raise ValueError(f"{len(weights)} weights for {len(self.components)} components")
        if any(not np.isfinite(w) or w < 0 for w in weights):
            raise ValueError(f"weights must be finite and >= 0, got {list(weights)}")
        if normalization not in ("minmax", "rank"):
            raise ValueError(f"normalization must be 'minmax' or 'rank', got {normalization!r}")
        self.weights = [float(w) for w in weights]
        self.normalization = normalization
        self._sync_shape()

    @property
    def params(self) -> dict[str, Any]:
        return {
            "weights": self.weights,
            "normalization": self.normalization,
            "components": [c.name for c in self.components],
        }

    @classmethod
    def for_contract_test(cls, user_items: sp.csr_matrix, **fixtures: Any) -> Blend:
        return cls([Popularity(), ItemKNN(k_neighbors=5)], weights=[0.2, 1.0]).fit(user_items)

    def fit(self, user_items: sp.csr_matrix) -> Blend:
        """Fit every component on ``user_items``, shape (n_users, n_items)."""
        user_items = check_user_items(user_items)
        for component in self.components:
            component.fit(user_items)
        self._sync_shape()
        return self

    def _sync_shape(self) -> None:
        shapes = {(c.n_users, c.n_items) for c in self.components}
        items = {n_items for _, n_items in shapes}
        if len(items) > 1 and 0 not in items:
            raise ValueError(f"components disagree on the number of items: {sorted(items)}")
        if 0 in items:  # not all fitted yet
            self.n_users, self.n_items = 0, 0
            return
        self.n_items = items.pop()
        self.n_users = max(n_users for n_users, _ in shapes)

    def score_from_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        """Blended scores of shape (n_rows, n_items)."""
        self._require_fitted()
        rows = check_user_items(rows, n_items=self.n_items)
        parts = [c.score_from_rows(rows) for c in self.components]
        return blend(parts, self.weights, method=self.normalization)

    def score_users(self, user_ids: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        parts = [c.score_users(user_ids, user_items) for c in self.components]
        return blend(parts, self.weights, method=self.normalization)

    def similar_items(self, item_ids: Any, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """What the blend recommends to a shopper who touched only that item, item excluded.

        Returns
        -------
        ids, scores : arrays of shape (len(item_ids), n)
        """
        self._require_fitted()
        item_ids = check_ids(item_ids, upper=self.n_items, name="item_ids")
        rows = item_rows(item_ids, self.n_items)
        return top_k(self.score_from_rows(rows), n, exclude=rows)

    def explain(self, item_id: int, item_ids: Any, weights: Any = None) -> tuple[int, float]:
        """The explanation of the component with the largest weight x share; components that
        cannot explain are skipped."""
        self._require_fitted()
        best, best_value = (-1, 0.0), 0.0
        for weight, component in zip(self.weights, self.components, strict=True):
            try:
                item, share = component.explain(item_id, item_ids, weights)
            except NotImplementedError:
                continue
            if item >= 0 and weight * share > best_value:
                best, best_value = (item, share), weight * share
        return best

    # -- persistence: nest each component's meta and arrays ---------------------------------
    def _artifact(self) -> tuple[dict[str, Any], dict[str, Any]]:
        meta: dict[str, Any] = {
            "algorithm": self.name,
            "n_users": self.n_users,
            "n_items": self.n_items,
            "weights": self.weights,
            "normalization": self.normalization,
            "components": [],
        }
        arrays: dict[str, Any] = {}
        for i, component in enumerate(self.components):
            component_meta, component_arrays = component._artifact()
            meta["components"].append(component_meta)
            arrays.update({f"c{i}.{key}": value for key, value in component_arrays.items()})
        return meta, arrays

    @classmethod
    def _from_meta(cls, meta: dict[str, Any], arrays: dict[str, Any]) -> Blend:
        from recommender.core import ALGORITHMS  # the registry imports this module

        if meta.get("algorithm") != cls.name:
            raise ValueError(f"artifact holds a {meta.get('algorithm')!r} model, not 'blend'")
        components = []
        for i, component_meta in enumerate(meta["components"]):
            algorithm = component_meta["algorithm"]
            if algorithm not in ALGORITHMS:
                raise ValueError(f"blend component {algorithm!r} is not a registered algorithm")
            prefix = f"c{i}."
            own = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            components.append(ALGORITHMS[algorithm]._from_meta(dict(component_meta), own))
        return cls(components, weights=meta["weights"], normalization=meta["normalization"])
