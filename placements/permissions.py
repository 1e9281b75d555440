"""Who may change placements' rules: editing a draft and publishing it are separate, so a
merchandiser can prepare and preview while another signs off. Reading needs staff only."""

EDIT_PERMISSION = "placements.change_rule"
PUBLISH_PERMISSION = "placements.publish_rule"
# A what-if changes nothing shoppers see: anyone who may view placements may run one.
VIEW_PERMISSION = "placements.view_placement"
