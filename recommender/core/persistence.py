"""Saving and loading a fitted model: params as JSON, learned arrays as ``.npz`` or one ``.npy``
per array (memory-mappable), never pickle."""

from __future__ import annotations

import inspect
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp


class Persistent:
    """``save``/``load`` and ``save_dir``/``load_dir`` for ``Recommender``, whose ``name``,
    ``params``, ``n_users``/``n_items`` and ``_require_fitted`` they use.

    Subclasses declare the names of their learned arrays in ``artifact_arrays``; both the
    arrays and the hyper-parameters round-trip without pickle.
    """

    name: ClassVar[str]
    n_users: int
    n_items: int
    artifact_arrays: ClassVar[tuple[str, ...]] = ()
    # The shape of each learned array, axis by axis: the name of a model attribute giving its
    # length ("n_users", "n_items", a param such as "factors") or None for any. ``load`` checks
    # it, so a meta.json that disagrees with its arrays is refused instead of loading a model
    # that fails or mis-scores at request time.
    artifact_shapes: ClassVar[dict[str, tuple[str | None, ...]]] = {}

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
    def load(cls, path: str | os.PathLike[str], mmap_mode: str | None = None) -> Self:
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
    ) -> Self:
        """``_from_meta`` with any problem in the stored data reported as a ``ValueError``
        naming ``source``: the artifact loaders catch ValueError, not TypeError or KeyError."""
        try:
            if not isinstance(meta, dict):
                raise ValueError(f"metadata must be a JSON object, got {type(meta).__name__}")
            return cls._from_meta(meta, _unflatten_sparse(flat))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"model artifact {source} is invalid: {exc}") from exc

    @classmethod
    def _from_meta(cls, meta: dict[str, Any], arrays: dict[str, Any]) -> Self:
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
    def load_dir(cls, path: str | os.PathLike[str], mmap_mode: str | None = "r") -> Self:
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
