"""The protocol every Shelfwise algorithm follows, and the checks they share.

Everything here is plain numpy/scipy: no Django, no settings. Ids are dense integer
indices (see ``recommender.core.matrix.IdIndex`` for the mapping to external ids).
"""

from __future__ import annotations

import inspect
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recommender.core.kernels import FLOAT
from recommender.core.ranking import top_k, top_k_row


class FitError(RuntimeError):
    """Training produced unusable parameters (NaN/inf factors, diverged loss)."""


class NotFittedError(RuntimeError):
    """An algorithm was asked to score before ``fit`` or ``load``."""


def check_user_items(user_items: Any, *, n_items: int | None = None) -> sp.csr_matrix:
    """Return ``user_items`` as float32 CSR with each (user, item) stored once (repeats summed),
    or raise ``ValueError`` saying what is wrong. The caller's matrix is never modified."""
    if not sp.issparse(user_items):
        raise ValueError(
            f"user_items must be a scipy.sparse matrix of shape (n_users, n_items), "
            f"got {type(user_items).__name__}"
        )
    if user_items.ndim != 2:
        raise ValueError(f"user_items must be 2-D, got {user_items.ndim}-D")
    if n_items is not None and user_items.shape[1] != n_items:
        raise ValueError(
            f"user_items has {user_items.shape[1]} item columns, the model was fitted on {n_items}"
        )
    matrix = sp.csr_matrix(user_items, dtype=FLOAT)
    if not matrix.has_canonical_format:
        # A repeated (user, item) entry counts twice in every sum over stored values (popularity
        # counts, item norms), so it is summed here for every model; on a copy, because
        # sum_duplicates sorts in place and the arrays may still be the caller's.
        matrix = matrix.copy()
        matrix.sum_duplicates()
    if matrix.nnz and not np.all(np.isfinite(matrix.data)):
        raise ValueError("user_items contains NaN or infinite weights")
    if matrix.nnz and matrix.data.min() < 0:
        raise ValueError("user_items weights must be non-negative")
    return matrix


def check_ids(ids: Any, *, upper: int, name: str) -> np.ndarray:
    """Return ``ids`` as a 1-D int64 array within ``[0, upper)`` or raise ``ValueError``."""
    array = np.atleast_1d(np.asarray(ids))
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of integer indices")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be integer indices, got dtype {array.dtype}")
    array = array.astype(np.int64, copy=False)
    if array.size and (array.min() < 0 or array.max() >= upper):
        raise ValueError(
            f"{name} must lie in [0, {upper}), got range [{array.min()}, {array.max()}]"
        )
    return array


def check_item_id(item_id: Any, *, upper: int, name: str = "item_id") -> int:
    """Return one item index within ``[0, upper)`` as an int, or raise ``ValueError``.

    ``int(item_id)`` alone lets -1 index the last item and a float slip through truncated.
    """
    array = np.asarray(item_id)
    if array.ndim != 0 and array.size != 1:
        raise ValueError(f"{name} must be a single integer index, got {array.size} values")
    return int(check_ids(array.reshape(1), upper=upper, name=name)[0])


def check_weights(weights: Any, *, length: int, non_negative: bool = False) -> np.ndarray:
    """Return ``weights`` as float32 of ``length`` (ones when None) or raise ``ValueError``.

    ``non_negative`` also refuses weights below 0: a shopper's (item, weight) pairs are event
    weights, and a negative one makes fold-in systems indefinite (ALS's Cholesky fails).
    """
    if weights is None:
        return np.ones(length, dtype=FLOAT)
    array = np.asarray(weights, dtype=FLOAT).ravel()
    if array.shape[0] != length:
        raise ValueError(f"weights has {array.shape[0]} entries for {length} item ids")
    if not np.all(np.isfinite(array)):
        raise ValueError("weights must be finite")
    if non_negative and array.size and array.min() < 0:
        raise ValueError("user_items weights must be non-negative")
    return array


def item_rows(item_ids: np.ndarray, n_items: int) -> sp.csr_matrix:
    """One CSR row per item id with a single 1 at that item, shape (len(item_ids), n_items).

    The "shopper who touched only this item" used by ``similar_items``, and the mask that keeps an
    item out of its own neighbour list.
    """
    return sp.csr_matrix(
        (np.ones(item_ids.size, dtype=FLOAT), (np.arange(item_ids.size), item_ids)),
        shape=(item_ids.size, n_items),
    )


def sparse_rows_sum(matrix: sp.csr_matrix, item_ids: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Σ_j w_j · matrix[j] as a dense float32 vector of shape (matrix.shape[1],).

    The request-time ``r @ S`` of a neighbourhood model without building ``r``: the stored
    entries of the selected rows are gathered with one index computation (no loop over the
    shopper's items) and summed by ``np.bincount``.
    """
    starts = matrix.indptr[item_ids]
    counts = matrix.indptr[item_ids + 1] - starts
    # position of every stored entry of the selected rows, rows back to back
    offsets = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    position = np.arange(offsets.size) + offsets
    scores = np.bincount(
        matrix.indices[position],
        weights=matrix.data[position] * np.repeat(weights, counts),
        minlength=matrix.shape[1],
    )
    return scores.astype(FLOAT)


def check_finite(name: str, array: np.ndarray) -> None:
    """Raise ``FitError`` when a learned array holds NaN or infinity."""
    if not np.all(np.isfinite(array)):
        raise FitError(
            f"{name} contains NaN or infinite values; "
            "lower the learning rate or raise regularization"
        )


class Recommender:
    """Base class: subclasses implement ``fit``, ``_score_users``/``_score_items_vector`` and
    ``similar_items``; batching, masking, top-k and persistence are shared here.

    Subclasses declare the names of their learned arrays in ``artifact_arrays`` and their
    hyper-parameters in ``params``; ``save``/``load`` round-trip both without pickle.
    """

    name: ClassVar[str] = "base"
    artifact_arrays: ClassVar[tuple[str, ...]] = ()
    # The shape of each learned array, axis by axis: the name of a model attribute giving its
    # length ("n_users", "n_items", a param such as "factors") or None for any. ``load`` checks
    # it, so a meta.json that disagrees with its arrays is refused instead of loading a model
    # that fails or mis-scores at request time.
    artifact_shapes: ClassVar[dict[str, tuple[str | None, ...]]] = {}
    # Read by the shared contract test (tests/core/test_contract.py):
    # ``personalized`` False means scores ignore the shopper (popularity), so the cluster and
    # explain checks do not apply; ``needs_item_features`` True means ``for_contract_test``
    # receives an ``item_features`` CSR matrix of shape (n_items, n_features);
    # ``explicit_ratings`` True means the model reads stored values as ratings (absent =
    # unknown, low = disliked), so the contract matrix adds low ratings across clusters.
    personalized: ClassVar[bool] = True
    needs_item_features: ClassVar[bool] = False
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

    # -- persistence ----------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write params and learned arrays to an ``.npz`` file (no pickle). Returns the path."""
        self._require_fitted()
        path = Path(path)
        meta, arrays = self._artifact()
        arrays["__meta__"] = np.frombuffer(_dump_json(meta).encode(), dtype=np.uint8)
        with open(path, "wb") as fh:  # keep the exact name: np.savez appends .npz to str paths
            np.savez(fh, **_flatten_sparse(arrays))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], mmap_mode: str | None = None) -> Recommender:
        """Rebuild a fitted model from ``save`` output, or from a ``save_dir`` directory, where
        ``mmap_mode='r'`` memory-maps the dense arrays (an ``.npz`` is always read into memory:
        its members are compressed-archive entries numpy cannot map)."""
        if Path(path).is_dir():
            return cls.load_dir(path, mmap_mode=mmap_mode)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = _load_json(bytes(data["__meta__"]).decode())
                flat = {key: data[key] for key in data.files if key != "__meta__"}
        except (EOFError, zipfile.BadZipFile, zlib.error, KeyError, ValueError) as exc:
            # An empty or truncated file surfaces as EOFError/BadZipFile naming neither.
            raise ValueError(f"model artifact {path} is not a readable archive: {exc!r}") from exc
        return cls._checked_from_meta(meta, flat, source=path)

    @classmethod
    def _checked_from_meta(
        cls, meta: Any, flat: dict[str, np.ndarray], *, source: str | os.PathLike[str]
    ) -> Recommender:
        """``_from_meta`` with any problem in the stored data reported as a ``ValueError``
        naming ``source``: the artifact loaders catch ValueError, not TypeError or KeyError."""
        try:
            if not isinstance(meta, dict):
                raise ValueError(f"metadata must be a JSON object, got {type(meta).__name__}")
            return cls._from_meta(meta, _unflatten_sparse(flat))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"model artifact {source} is invalid: {exc}") from exc

    @classmethod
    def _from_meta(cls, meta: dict[str, Any], arrays: dict[str, Any]) -> Recommender:
        algorithm = meta.pop("algorithm", None)
        if algorithm != cls.name:
            raise ValueError(f"artifact holds a {algorithm!r} model, not {cls.name!r}")
        n_users, n_items = meta.pop("n_users", None), meta.pop("n_items", None)
        for key, value in (("n_users", n_users), ("n_items", n_items)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"metadata {key} must be a non-negative integer, got {value!r}")
        unknown = _unknown_params(cls, meta)
        if unknown:
            raise ValueError(f"metadata has parameters {cls.name} does not take: {unknown}")
        missing = [name for name in cls.artifact_arrays if name not in arrays]
        if missing:
            raise ValueError(f"arrays {missing} are missing")
        try:
            model = cls(**meta)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"parameters {meta} are not valid for {cls.name}: {exc}") from exc
        model.n_users, model.n_items = n_users, n_items
        for name in cls.artifact_arrays:
            setattr(model, name, arrays[name])
        model._check_artifact_shapes()
        model._after_load()
        return model

    def _check_artifact_shapes(self) -> None:
        """Raise ``ValueError`` when a learned array's shape disagrees with ``artifact_shapes``."""
        for name, axes in self.artifact_shapes.items():
            shape = tuple(getattr(self, name).shape)
            expected = tuple(None if axis is None else getattr(self, axis) for axis in axes)
            fits = len(shape) == len(expected) and all(
                want is None or got == want for got, want in zip(shape, expected, strict=True)
            )
            if not fits:
                wanted = tuple("any" if want is None else want for want in expected)
                raise ValueError(
                    f"array {name!r} has shape {shape}, the metadata implies {wanted} "
                    f"({', '.join(str(axis) for axis in axes)})"
                )

    def save_dir(self, path: str | os.PathLike[str]) -> Path:
        """Write one ``.npy`` per dense array (plus sparse parts) into a directory, so a serving
        process can memory-map factors instead of reading them into its heap."""
        self._require_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta, arrays = self._artifact()
        for key, value in _flatten_sparse(arrays).items():
            np.save(path / f"{key}.npy", value, allow_pickle=False)
        (path / "meta.json").write_text(_dump_json(meta))
        return path

    @classmethod
    def load_dir(cls, path: str | os.PathLike[str], mmap_mode: str | None = "r") -> Recommender:
        """Load ``save_dir`` output; dense arrays are memory-mapped read-only by default."""
        path = Path(path)
        try:
            meta = _load_json((path / "meta.json").read_text())
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError both are
            raise ValueError(
                f"model artifact {path / 'meta.json'} is not valid JSON: {exc}"
            ) from exc
        flat = {p.stem: _load_npy(p, mmap_mode) for p in path.glob("*.npy")}
        return cls._checked_from_meta(meta, flat, source=path)

    def _artifact(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(meta, arrays) that ``save``/``save_dir`` write and ``_from_meta`` reads back.

        Composite models (``Blend``) override this pair to nest their components.
        """
        meta = {
            "algorithm": self.name,
            "n_users": self.n_users,
            "n_items": self.n_items,
            **self.params,
        }
        arrays = {name: _to_saveable(getattr(self, name)) for name in self.artifact_arrays}
        return meta, arrays

    def _after_load(self) -> None:
        """Hook: rebuild caches derived from learned arrays (e.g. Gram matrices)."""


def _unknown_params(cls: type, names: Any) -> list[str]:
    """The names among ``names`` that ``cls(**params)`` does not take (none with ``**kwargs``)."""
    parameters = inspect.signature(cls).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return []
    return sorted(set(names) - {p.name for p in parameters})


def _load_npy(path: Path, mmap_mode: str | None) -> np.ndarray:
    try:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except (EOFError, ValueError) as exc:
        raise ValueError(f"model artifact {path} is not a readable .npy array: {exc!r}") from exc


def _candidates(candidates: Any, n_items: int) -> np.ndarray | None:
    if candidates is None:
        return None
    return check_ids(candidates, upper=n_items, name="candidates")


def _to_saveable(value: Any) -> Any:
    if sp.issparse(value):
        return sp.csr_matrix(value)
    return np.asarray(value)


_SPARSE_PARTS = ("data", "indices", "indptr", "shape")


def _flatten_sparse(arrays: dict[str, Any]) -> dict[str, np.ndarray]:
    """CSR matrices become four plain arrays so ``allow_pickle=False`` can read them back."""
    flat: dict[str, np.ndarray] = {}
    for key, value in arrays.items():
        if sp.issparse(value):
            flat[f"{key}__csr_data"] = value.data
            flat[f"{key}__csr_indices"] = value.indices
            flat[f"{key}__csr_indptr"] = value.indptr
            flat[f"{key}__csr_shape"] = np.asarray(value.shape, dtype=np.int64)
        else:
            flat[key] = value
    return flat


def _unflatten_sparse(flat: dict[str, np.ndarray]) -> dict[str, Any]:
    arrays: dict[str, Any] = {}
    for key, value in flat.items():
        if "__csr_" not in key:
            arrays[key] = value
    for key in {k.split("__csr_")[0] for k in flat if "__csr_" in k}:
        arrays[key] = sp.csr_matrix(
            (
                np.asarray(flat[f"{key}__csr_data"]),
                np.asarray(flat[f"{key}__csr_indices"]),
                np.asarray(flat[f"{key}__csr_indptr"]),
            ),
            shape=tuple(int(x) for x in flat[f"{key}__csr_shape"]),
        )
    return arrays


def _dump_json(meta: dict[str, Any]) -> str:
    import json

    return json.dumps(meta, sort_keys=True)


def _load_json(text: str) -> dict[str, Any]:
    import json

    return json.loads(text)
