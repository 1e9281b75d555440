"""Model artifacts in Django's storage: written once, never modified, never half-visible.

Layout of one version, under ``models/<algorithm>/<version uuid>/``::

    model/meta.json     algorithm name and hyper-parameters (``Recommender.save_dir``)
    model/<array>.npy   learned arrays, one .npy each (CSR matrices as four arrays); no pickle
    items.npy           product pks in item-index order (``IdIndex``): column k is items[k]
    users.npy           shopper pks in user-index order: row u is users[u]
    support.npy         optional: distinct training shoppers per item (item-index order)
    manifest.json       written last: format, algorithm, uuid and every file with its size

On a local filesystem the directory is assembled under a temporary name beside its final place
and renamed in one ``os.replace``, so readers see either nothing or the whole artifact; serving
then memory-maps the arrays. On other storages (object stores) the files are uploaded under the
final names and ``manifest.json`` goes last: a reader treats a directory without it as absent.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import uuid as uuid_lib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage

from recommender.core import ALGORITHMS, Recommender
from recommender.core.matrix import IdIndex
from recommender.core.repeat import RepeatModel

if TYPE_CHECKING:
    from recommender.models import ModelVersion

FORMAT = 1
MANIFEST = "manifest.json"
SUPPORT = "support.npy"


class ArtifactError(RuntimeError):
    """An artifact is missing, incomplete or unreadable."""


def artifact_path(*, algorithm: str, key: uuid_lib.UUID) -> str:
    return f"{settings.SHELFWISE_ARTIFACT_DIR}/{algorithm}/{key}"


def write_artifact(
    *,
    model: Recommender,
    items: IdIndex,
    users: IdIndex,
    algorithm: str,
    key: uuid_lib.UUID,
    support: np.ndarray | None = None,
) -> str:
    """Write ``model`` and its id indexes to a new immutable location; returns its storage path.

    The path is only returned once every file is complete. ``support`` (distinct shoppers per
    item, in ``items`` order) is saved beside them when given.
    """
    if support is not None and np.shape(support) != (len(items),):
        raise ArtifactError(f"support has shape {np.shape(support)} for {len(items)} items")
    name = artifact_path(algorithm=algorithm, key=key)
    if default_storage.exists(f"{name}/{MANIFEST}"):
        raise ArtifactError(f"artifact {name} already exists; artifacts are never overwritten")
    with tempfile.TemporaryDirectory(prefix="shelfwise-artifact-") as scratch:
        local = Path(scratch) / "artifact"
        _write_local(
            local,
            model=model,
            items=items,
            users=users,
            algorithm=algorithm,
            key=key,
            support=support,
        )
        if isinstance(default_storage, FileSystemStorage):
            _publish_on_filesystem(local, name)
        else:
            _publish_to_storage(local, name)
    return name


def _write_local(
    root: Path,
    *,
    model: Recommender,
    items: IdIndex,
    users: IdIndex,
    algorithm: str,
    key: uuid_lib.UUID,
    support: np.ndarray | None,
) -> None:
    root.mkdir(parents=True)
    model.save_dir(root / "model")
    items.save(root / "items.npy")
    users.save(root / "users.npy")
    if support is not None:
        np.save(root / SUPPORT, np.asarray(support, dtype=np.int64), allow_pickle=False)
    files = {
        str(path.relative_to(root)): path.stat().st_size
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }
    manifest = {"format": FORMAT, "algorithm": algorithm, "uuid": str(key), "files": files}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))


def _publish_on_filesystem(local: Path, name: str) -> None:
    final = Path(default_storage.path(name))
    final.parent.mkdir(parents=True, exist_ok=True)
    # The temporary copy lives beside the final directory (same filesystem), so the rename
    # below is atomic; a crash leaves only a ".tmp-*" directory that nothing points at.
    staging = final.parent / f".tmp-{final.name}-{os.getpid()}"
    shutil.copytree(local, staging)
    for path in staging.rglob("*"):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    os.replace(staging, final)


def _publish_to_storage(local: Path, name: str) -> None:
    paths = sorted(p for p in local.rglob("*") if p.is_file() and p.name != MANIFEST)
    for path in [*paths, local / MANIFEST]:
        target = f"{name}/{path.relative_to(local).as_posix()}"
        with open(path, "rb") as fh:
            saved = default_storage.save(target, File(fh))
        if saved != target:
            raise ArtifactError(f"storage renamed {target} to {saved}; refusing a moved artifact")


def artifact_exists(name: str) -> bool:
    """True when the artifact at ``name`` is complete (its manifest was written last)."""
    return bool(name) and default_storage.exists(f"{name}/{MANIFEST}")


def load_model(version: ModelVersion) -> tuple[Recommender, IdIndex, IdIndex]:
    """The fitted model of ``version`` with its item and user indexes.

    Arrays are memory-mapped read-only when the storage is a local filesystem, so every web
    process shares one copy through the page cache. Raises ``ArtifactError`` when incomplete.
    """
    return load_artifact(version.artifact, algorithm=version.algorithm)


def load_support(name: str) -> np.ndarray | None:
    """Distinct training shoppers per item of the artifact at ``name``, or None when it was
    written without them (artifacts older than this file)."""
    root = _local_root(name)
    manifest = json.loads((root / MANIFEST).read_text())
    if SUPPORT not in manifest.get("files", {}):
        return None
    try:
        return np.load(root / SUPPORT, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"artifact {name!r} has an unreadable {SUPPORT}: {exc}") from exc


def load_artifact(name: str, *, algorithm: str) -> tuple[Recommender, IdIndex, IdIndex]:
    if not artifact_exists(name):
        raise ArtifactError(f"artifact {name!r} is missing or incomplete (no {MANIFEST})")
    if algorithm not in ALGORITHMS:
        raise ArtifactError(f"algorithm {algorithm!r} is not registered in this deployment")
    root = _local_root(name)
    manifest = json.loads((root / MANIFEST).read_text())
    if manifest.get("format") != FORMAT or manifest.get("algorithm") != algorithm:
        raise ArtifactError(f"artifact {name!r} has an unexpected manifest: {manifest}")
    try:
        model = ALGORITHMS[algorithm].load_dir(root / "model", mmap_mode="r")
        items = IdIndex(np.load(root / "items.npy", allow_pickle=False))
        users = IdIndex(np.load(root / "users.npy", allow_pickle=False))
    except (OSError, ValueError, KeyError) as exc:
        raise ArtifactError(f"artifact {name!r} is unreadable: {exc}") from exc
    return model, items, users


def _local_root(name: str) -> Path:
    """A local directory holding the artifact: the storage's own on a filesystem, otherwise a
    cache under VAR_DIR filled once (artifacts never change, so the cache never goes stale)."""
    if isinstance(default_storage, FileSystemStorage):
        return Path(default_storage.path(name))
    cache = Path(settings.VAR_DIR) / "artifact-cache" / name
    if (cache / MANIFEST).exists():
        return cache
    manifest = json.loads(default_storage.open(f"{name}/{MANIFEST}").read())
    staging = cache.parent / f".tmp-{cache.name}-{os.getpid()}"
    for relative in manifest["files"]:
        target = staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        with default_storage.open(f"{name}/{relative}") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
    (staging / MANIFEST).write_text(json.dumps(manifest))
    cache.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(staging, cache)
    except OSError:  # another process filled the cache first; theirs is identical
        shutil.rmtree(staging, ignore_errors=True)
    return cache


def delete_artifact(name: str) -> None:
    """Remove an artifact nothing points at (a failed run's leftovers)."""
    if isinstance(default_storage, FileSystemStorage):
        final = Path(default_storage.path(name))
        # With the staging copy a writer killed mid-publish left beside it.
        for path in [final, *final.parent.glob(f".tmp-{final.name}-*")]:
            shutil.rmtree(path, ignore_errors=True)
        return
    directories, files = default_storage.listdir(name)
    for filename in files:
        default_storage.delete(f"{name}/{filename}")
    for directory in directories:
        delete_artifact(f"{name}/{directory}")


REPEAT_MODEL = "repeat.npz"


def repeat_artifact_path(key: uuid_lib.UUID) -> str:
    return f"{settings.SHELFWISE_ARTIFACT_DIR}/buy_again/{key}"


def write_repeat_artifact(
    *, model: RepeatModel, items: IdIndex, users: IdIndex, key: uuid_lib.UUID | None = None
) -> str:
    """Write the buy-again model and its id indexes under ``repeat_artifact_path(key)`` (a new
    key by default); returns it. Three files (no manifest): serving reads the path only from a
    succeeded run, which succeeds only after all three are stored."""
    name = repeat_artifact_path(key or uuid_lib.uuid4())
    for file_name, write in (
        (REPEAT_MODEL, model.save),
        ("items.npy", lambda fh: np.save(fh, items.ids, allow_pickle=False)),
        ("users.npy", lambda fh: np.save(fh, users.ids, allow_pickle=False)),
    ):
        buffer = io.BytesIO()
        write(buffer)
        saved = default_storage.save(f"{name}/{file_name}", ContentFile(buffer.getvalue()))
        if saved != f"{name}/{file_name}":
            raise ArtifactError(f"storage renamed {name}/{file_name} to {saved}")
    return name


def load_repeat_artifact(name: str) -> tuple[RepeatModel, IdIndex, IdIndex]:
    """(model, items, users) as ``write_repeat_artifact`` wrote them."""
    try:
        with default_storage.open(f"{name}/{REPEAT_MODEL}") as fh:
            model = RepeatModel.load(io.BytesIO(fh.read()))
        indexes = []
        for file_name in ("items.npy", "users.npy"):
            with default_storage.open(f"{name}/{file_name}") as fh:
                indexes.append(IdIndex(np.load(io.BytesIO(fh.read()), allow_pickle=False)))
    except (OSError, ValueError, KeyError) as exc:
        raise ArtifactError(f"buy-again model {name} unreadable: {exc}") from exc
    return model, indexes[0], indexes[1]
