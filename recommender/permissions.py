"""Who may change what serves: one rule for the dashboard, the admin and the API.

Reading runs and versions is for staff; starting a run and switching the serving model need the
Django permissions below (superusers hold every permission). A write needs the permission, not
staff status: a shop back-end's API client (``manage.py create_api_client --role backend``) may
trigger training without being able to log in to the dashboard.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from config.api import IsStaff

TRAIN_PERMISSION = "recommender.add_trainingrun"
PROMOTE_PERMISSION = "recommender.change_modelversion"


class _StaffReadsPermissionWrites(IsStaff):
    """Staff may read; writing needs ``permission``."""

    permission = ""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return super().has_permission(request, view)
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(self.permission))


class CanTrain(_StaffReadsPermissionWrites):
    permission = TRAIN_PERMISSION
    message = "Starting a training run needs the 'Can add training run' permission."


class CanPromote(_StaffReadsPermissionWrites):
    permission = PROMOTE_PERMISSION
    message = "Promoting or rolling back a model needs the 'Can change model version' permission."
