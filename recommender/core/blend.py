"""``Blend``: several fitted models combined with weights, as one ``Recommender``.

The arithmetic is ``rerank.blend``; this wraps it in the model protocol so a blend can be
trained, saved and served like any other model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recommender.core.base import Recommender
from recommender.core.checks import check_ids, check_user_items
from recommender.core.kernels import FLOAT, item_rows
from recommender.core.knn import ItemKNN
from recommender.core.popularity import Popularity
from recommender.core.ranking import top_k
from recommender.core.rerank import Normalization, blend, normalize_scores


class Blend(Recommender):
    """score = Σ_m w_m · normalize(score_m), per shopper (see ``rerank.blend``).

    Parameters
    ----------
    components : sequence of Recommender
        Models to combine, fitted or not: ``fit`` fits them all on the same matrix; models
        that need more than a matrix (content features) can be passed already fitted and the
        blend used without calling ``fit``.
    weights : sequence of float, optional
        One per component, >= 0 (default: equal).
    normalization : {"minmax", "rank"}
        How each component's scores are scaled before adding (``rerank.normalize_scores``).

    Persistence: ``save``/``save_dir`` write every component's arrays under a ``c{i}.`` prefix
    and their params in the metadata; ``load`` rebuilds them through ``ALGORITHMS``, so every
    component must be a registered algorithm.
    """

    name: ClassVar[str] = "blend"
    composite: ClassVar[bool] = True

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
        active = self._active()
        parts = [c.score_from_rows(rows) for _, c in active]
        return blend(parts, [w for w, _ in active], method=self.normalization)

    def score_users(self, user_ids: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        active = self._active()
        parts = [c.score_users(user_ids, user_items) for _, c in active]
        return blend(parts, [w for w, _ in active], method=self.normalization)

    def score_items(self, item_ids: Any, weights: Any = None) -> np.ndarray:
        """Blended scores of shape (n_items,) for one shopper: each component's dense
        single-row path, min-max (or rank) normalised and added in place."""
        self._require_fitted()
        # Validate once here so a bad request fails before any component works on it.
        self.request_pairs(item_ids, weights)
        total = np.zeros(self.n_items, dtype=FLOAT)
        for weight, component in self._active():
            scores = component.score_items(item_ids, weights)
            if self.normalization == "minmax":
                normalised = _minmax_row(scores)
            else:
                normalised = normalize_scores(scores, self.normalization)
            # 0 x -inf would be NaN: an item any component marks ineligible stays ineligible.
            ineligible = ~np.isfinite(normalised)
            if ineligible.any():
                normalised[ineligible] = 0.0
                total += FLOAT(weight) * normalised
                total[ineligible] = -np.inf
            else:
                total += FLOAT(weight) * normalised
        return total

    def _active(self) -> list[tuple[float, Recommender]]:
        """(weight, component) pairs with a non-zero weight: a zero-weight component cannot
        change a score, so it is not evaluated at all. Never empty (all-zero keeps the first)."""
        active = [(w, c) for w, c in zip(self.weights, self.components, strict=True) if w > 0]
        return active or [(self.weights[0], self.components[0])]

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

    def _explain(
        self, item_id: int, item_ids: np.ndarray, weights: np.ndarray | None
    ) -> tuple[int, float]:
        """The explanation of the component with the largest weight x share; components that
        cannot explain are skipped."""
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


def _minmax_row(scores: np.ndarray) -> np.ndarray:
    """(s - min) / (max - min) of one finite-or--inf score vector, float32; constant gives 0.

    ``normalize_scores`` for one row with the common all-finite case taking two reductions
    and one fused pass instead of masked copies.
    """
    scores = np.asarray(scores, dtype=FLOAT)
    if not np.isfinite(scores).all():
        return normalize_scores(scores, "minmax")
    low, high = scores.min(), scores.max()
    if high <= low:
        return np.zeros_like(scores)
    out = scores - low
    out *= FLOAT(1.0 / (high - low))
    return out
