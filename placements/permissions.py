"""Who may do what to placements and their rules. Three levels, each a set of Django permissions:

- **view** (a read-only merchandiser): the pages, their history and the preview;
- **edit**: add, change and delete rules (new ones start as drafts), change a placement;
- **publish**: make a draft live or a live rule a draft again. Editing, deleting or reverting a
  live rule changes what shoppers see, so it needs publish as well as edit.

Preparing a draft and signing it off stay separate, so one merchandiser can prepare and preview
while another publishes.
"""

from __future__ import annotations

from typing import Any

VIEW_PERMISSION = "placements.view_rule"
ADD_PERMISSION = "placements.add_rule"
EDIT_PERMISSION = "placements.change_rule"
DELETE_PERMISSION = "placements.delete_rule"
PLACEMENT_EDIT_PERMISSION = "placements.change_placement"
PUBLISH_PERMISSION = "placements.publish_rule"


def may_view(user: Any) -> bool:
    """Seeing placements, rules and history; as in the admin, who may change may also view."""
    return user.has_perm(VIEW_PERMISSION) or user.has_perm(EDIT_PERMISSION)


def live_change_permissions(*, before_live: bool, after_live: bool) -> tuple[str, ...]:
    """What a change to a rule needs beyond editing: publish when it was or will be live."""
    return (PUBLISH_PERMISSION,) if before_live or after_live else ()


# A/B tests: staff with the view permission read them; managing (create, start, stop, promote)
# needs the change permission.
VIEW_EXPERIMENTS = "placements.view_experiment"
MANAGE_EXPERIMENTS = "placements.change_experiment"
