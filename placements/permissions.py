"""Who may change placements' rules: editing a draft and publishing it are separate, so a
merchandiser can prepare and preview while another signs off. Reading needs staff only."""

EDIT_PERMISSION = "placements.change_rule"
PUBLISH_PERMISSION = "placements.publish_rule"

# A/B tests: staff with the view permission read them; managing (create, start, stop, promote)
# needs the change permission.
VIEW_EXPERIMENTS = "placements.view_experiment"
MANAGE_EXPERIMENTS = "placements.change_experiment"
