"""Who may record events and change shoppers: the model permissions the admin checks, for the
API and the dashboard alike."""

from __future__ import annotations

from config.api import WritesNeedPermissions

EVENT_PERMISSION = "behavior.add_event"
# The events API creates the shoppers it does not know yet.
EVENT_WRITE_PERMISSIONS = (EVENT_PERMISSION, "behavior.add_shopper")
SHOPPER_WRITE_PERMISSIONS = ("behavior.add_shopper", "behavior.change_shopper")


class CanSendEvents(WritesNeedPermissions):
    permissions = EVENT_WRITE_PERMISSIONS


class CanWriteShoppers(WritesNeedPermissions):
    permissions = SHOPPER_WRITE_PERMISSIONS
