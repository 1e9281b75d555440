"""Artifacts an attempt wrote that no version records: noted before writing, swept after.

An attempt killed while saving (SIGKILL, a lost worker) leaves folders nothing points at. Their
paths are noted on the run first; the run's next success, or the reconciler once the worker is
known gone, deletes the ones no version records.
"""

from __future__ import annotations

import logging

from django.db import transaction

from recommender.artifacts import delete_artifact
from recommender.models import ModelVersion, TrainingRun

logger = logging.getLogger(__name__)

# Run stats key: artifacts an attempt is writing, until a version records them or they are swept.
UNRECORDED_ARTIFACTS = "unrecorded_artifacts"


def note_artifacts(run_id: int, paths: list[str]) -> None:
    """Record on the run that its attempt is about to write ``paths``."""
    stats = TrainingRun.objects.get(pk=run_id).stats
    noted = [*stats.get(UNRECORDED_ARTIFACTS, []), *paths]
    TrainingRun.objects.filter(pk=run_id).update(stats={**stats, UNRECORDED_ARTIFACTS: noted})


def sweep_unrecorded_artifacts(*, run_id: int) -> list[str]:
    """Delete the artifacts the run's attempts wrote that no version records; returns them.

    Only for a run no live worker is writing: the reconciler, once it found the worker gone
    (a success drops the same leftovers in ``versions.record_versions``).
    """
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run_id)
        noted = run.stats.get(UNRECORDED_ARTIFACTS, [])
        if not noted:
            return []
        recorded = set(
            ModelVersion.objects.filter(artifact__in=noted).values_list("artifact", flat=True)
        )
        run.stats = {key: v for key, v in run.stats.items() if key != UNRECORDED_ARTIFACTS}
        run.save(update_fields=["stats"])
    leftovers = [path for path in noted if path not in recorded]
    delete_artifacts(leftovers)
    return leftovers


def delete_artifacts(paths: list[str]) -> None:
    """Delete each path; storage trouble is logged, never raised (the run already succeeded)."""
    for path in paths:
        try:
            delete_artifact(path)
        except OSError:
            logger.warning("could not delete leftover artifact %s", path, exc_info=True)
