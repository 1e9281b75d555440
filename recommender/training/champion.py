"""Which version serves: the champion chosen after training, made by hand, or restored by rollback.

Every change of champion happens in one transaction that first locks the current champion row
(``select_for_update``), and retires it before crowning the next, so the partial unique
constraint "one champion per algorithm" holds at every statement and serving never reads a
moment with two champions or with one whose artifact is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from recommender.artifacts import artifact_exists
from recommender.models import ModelVersion


class ChampionError(ValueError):
    """The requested change of champion or rollback cannot be done (said why)."""


@dataclass(frozen=True)
class ChampionScore:
    """The serving champion as it scored on a run's holdout (``ndcg`` None: not scorable)."""

    version_id: int | None
    ndcg: float | None = None
    problem: str = ""


def decide_champion(
    *, ndcg: float, champion: ChampionScore, tolerance: float, has_holdout: bool
) -> tuple[bool, str]:
    """(becomes champion?, reason) for a new version scoring ``ndcg`` against ``champion``."""
    if champion.version_id is None:
        return True, "First version of this algorithm: promoted."
    if champion.ndcg is None:
        return True, (
            f"The champion v{champion.version_id} could not be scored ({champion.problem}); "
            "replaced by a version that can."
        )
    if not has_holdout:
        return False, (
            f"The holdout has no shoppers with history, so there is no evidence to replace "
            f"v{champion.version_id}; promote by hand if intended."
        )
    threshold = champion.ndcg * (1.0 - tolerance)
    comparison = (
        f"NDCG@10 {ndcg:.4f} vs champion v{champion.version_id} {champion.ndcg:.4f} on the "
        f"same holdout (bar {threshold:.4f} with {tolerance:.0%} tolerance)"
    )
    if ndcg >= threshold:
        return True, f"Promoted: {comparison}."
    return False, f"Not promoted: {comparison}."


def crown(*, version: ModelVersion, user: AbstractBaseUser | None, reason: str) -> ModelVersion:
    """Inside a transaction: make ``version`` the champion, retiring the current one."""
    current = (
        ModelVersion.objects.select_for_update()
        .filter(algorithm=version.algorithm, status=ModelVersion.Status.CHAMPION)
        .first()
    )
    now = timezone.now()
    if current is not None and current.pk != version.pk:
        current.status = ModelVersion.Status.RETIRED
        current.retired_at = now
        current.save(update_fields=["status", "retired_at"])
        version.replaced = current
    version.status = ModelVersion.Status.CHAMPION
    version.promoted_at = now
    version.promoted_by = user if user is not None and user.is_authenticated else None
    version.retired_at = None
    version.reason = reason
    version.save()
    return version


def make_champion(*, version: ModelVersion, user: AbstractBaseUser | None) -> ModelVersion:
    """Make ``version`` serve for its algorithm; the previous champion is retired and becomes
    the rollback target. Refuses a version whose artifact is missing or incomplete."""
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().get(pk=version.pk)
        if version.status == ModelVersion.Status.CHAMPION:
            return version
        if not artifact_exists(version.artifact):
            raise ChampionError(
                f"v{version.pk}'s artifact {version.artifact!r} is missing or incomplete; "
                "it cannot serve."
            )
        who = getattr(user, "get_username", lambda: "system")()
        return crown(version=version, user=user, reason=f"Promoted by hand by {who}.")


def rollback(*, algorithm: str, user: AbstractBaseUser | None) -> ModelVersion:
    """Restore the champion the current one replaced and retire the current one.

    Returns the restored version. Repeated rollbacks walk further back through earlier champions.
    """
    with transaction.atomic():
        current = (
            ModelVersion.objects.select_for_update()
            .filter(algorithm=algorithm, status=ModelVersion.Status.CHAMPION)
            .first()
        )
        if current is None:
            raise ChampionError(f"{algorithm} has no champion to roll back from.")
        previous = current.replaced
        if previous is None:
            raise ChampionError(
                f"{algorithm} v{current.pk} did not replace an earlier champion; nothing to "
                "roll back to."
            )
        previous = ModelVersion.objects.select_for_update().get(pk=previous.pk)
        if not artifact_exists(previous.artifact):
            raise ChampionError(
                f"v{previous.pk}'s artifact {previous.artifact!r} is gone; cannot roll back to it."
            )
        now = timezone.now()
        current.status = ModelVersion.Status.RETIRED
        current.retired_at = now
        current.save(update_fields=["status", "retired_at"])
        who = getattr(user, "get_username", lambda: "system")()
        # ``replaced`` is kept: the restored version still points at its own predecessor.
        previous.status = ModelVersion.Status.CHAMPION
        previous.promoted_at = now
        previous.promoted_by = user if user is not None and user.is_authenticated else None
        previous.retired_at = None
        previous.reason = f"Restored by rollback from v{current.pk} by {who}."
        previous.save()
        return previous


def decide_feature_index(*, ndcg: float, champion: ChampionScore, n_items: int) -> tuple[bool, str]:
    """(True, reason): a successfully trained feature index always replaces its champion.

    A content model is not a ranking competitor: serving uses it to score search queries,
    to find neighbours of products with little history and to place new arrivals. Holding it
    back on behavioural NDCG would leave every product added since the champion was trained
    without content neighbours and out of search. Its NDCG is still recorded, for information.
    """
    versus = (
        ""
        if champion.ndcg is None
        else f" (champion v{champion.version_id} {champion.ndcg:.4f} on the same holdout)"
    )
    return True, (
        f"Promoted: content index of {n_items:,} catalog products replaces the previous one; "
        f"NDCG@10 {ndcg:.4f}{versus} is recorded for information, not a promotion bar."
    )
