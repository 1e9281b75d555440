"""Who may change what serves: one rule for the dashboard, the admin and the API.

Reading runs and versions is for staff; starting a run and switching the serving model need the
Django permissions below as well (superusers hold every permission).
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from config.api import IsStaff

TRAIN_PERMISSION = "recommender.add_trainingrun"
PROMOTE_PERMISSION = "recommender.change_modelversion"


class _StaffWithPermission(IsStaff):
    """Staff may read; writing needs ``permission`` too."""

    permission = ""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not super().has_permission(request, view):
            return False
        return request.method in SAFE_METHODS or request.user.has_perm(self.permission)


class CanTrain(_StaffWithPermission):
    permission = TRAIN_PERMISSION
    message = "Starting a training run needs the 'Can add training run' permission."


class CanPromote(_StaffWithPermission):
    permission = PROMOTE_PERMISSION
    message = "Promoting or rolling back a model needs the 'Can change model version' permission."
