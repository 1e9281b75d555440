"""Artifacts: immutable, complete or absent, readable back with their id indexes."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.artifacts import (
    ArtifactError,
    artifact_exists,
    load_artifact,
    write_artifact,
)
from recommender.core.matrix import IdIndex
from tests.recommender.scripted import Scripted

pytestmark = pytest.mark.usefixtures("scripted_algorithm")


def fitted() -> tuple[Scripted, IdIndex, IdIndex]:
    matrix = sp.csr_matrix(np.array([[1, 0, 2], [0, 1, 1]], dtype=np.float32))
    return Scripted().fit(matrix), IdIndex([101, 205, 307]), IdIndex([7, 9])


def test_a_written_artifact_loads_back_with_its_indexes_and_leaves_no_temporary(media_root):
    model, items, users = fitted()
    key = uuid.uuid4()

    name = write_artifact(model=model, items=items, users=users, algorithm="scripted", key=key)

    assert name == f"models/scripted/{key}" and artifact_exists(name)
    loaded, loaded_items, loaded_users = load_artifact(name, algorithm="scripted")
    assert loaded_items == items and loaded_users == users
    np.testing.assert_array_equal(loaded.item_scores, model.item_scores)
    assert isinstance(loaded.item_scores, np.memmap)  # served from the page cache
    assert [p.name for p in (media_root / "models" / "scripted").iterdir()] == [str(key)]


def test_an_artifact_is_never_overwritten(media_root):
    model, items, users = fitted()
    key = uuid.uuid4()
    write_artifact(model=model, items=items, users=users, algorithm="scripted", key=key)

    with pytest.raises(ArtifactError, match="never overwritten"):
        write_artifact(model=model, items=items, users=users, algorithm="scripted", key=key)


def test_a_directory_without_its_manifest_counts_as_absent(media_root):
    model, items, users = fitted()
    name = write_artifact(
        model=model, items=items, users=users, algorithm="scripted", key=uuid.uuid4()
    )
    (media_root / name / "manifest.json").unlink()

    assert not artifact_exists(name)
    with pytest.raises(ArtifactError, match="missing or incomplete"):
        load_artifact(name, algorithm="scripted")


def test_other_storages_get_the_manifest_last_and_load_through_a_local_cache(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    settings.VAR_DIR = tmp_path
    model, items, users = fitted()

    name = write_artifact(
        model=model, items=items, users=users, algorithm="scripted", key=uuid.uuid4()
    )

    loaded, loaded_items, _ = load_artifact(name, algorithm="scripted")
    assert loaded_items == items
    np.testing.assert_array_equal(loaded.item_scores, model.item_scores)
    assert (tmp_path / "artifact-cache" / name / "manifest.json").exists()
