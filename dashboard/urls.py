"""Every dashboard page: the overview at the site root, shoppers, products, promotions and points,
placements and their rules, A/B tests, cold start, models and training. The names are not namespaced
(templates reverse "models")."""

from django.urls import path

from dashboard.views import (
    catalog,
    cold_start,
    experiments,
    kpis,
    models,
    overview,
    placement_edits,
    placement_history,
    placements,
    promotions,
    shoppers,
    whatif,
)

# Shopper ids and SKUs are the shop's own keys and may hold "/" ("TSHIRT/XL"), so they use the
# path converter; a route with a suffix comes before its bare twin, which would swallow it.
urlpatterns = [
    path("", overview.overview, name="overview"),
    path("shoppers/", shoppers.shopper_list, name="shopper-list"),
    path("shoppers/<path:external_id>/simulate/", shoppers.simulate_event, name="shopper-simulate"),
    path("shoppers/<path:external_id>/", shoppers.shopper_detail, name="shopper-detail"),
    path("products/", catalog.product_list, name="product-list"),
    path("products/<path:sku>/", catalog.product_detail, name="product-detail"),
    path("promotions/", promotions.promotions, name="promotions"),
    path("placements/", placements.placements, name="placements"),
    path("placements/<slug:name>/", placements.placement_detail, name="placement-detail"),
    path("placements/<slug:name>/edit/", placement_edits.placement_edit, name="placement-edit"),
    path(
        "placements/<slug:name>/history/",
        placement_history.placement_history,
        name="placement-history",
    ),
    path(
        "placements/<slug:name>/history/<str:kind>/<int:record_id>/revert/",
        placement_history.revert,
        name="placement-revert",
    ),
    path("placements/<slug:name>/rules/new/", placement_edits.rule_new, name="rule-new"),
    path(
        "placements/<slug:name>/rules/<int:rule_id>/edit/",
        placement_edits.rule_edit,
        name="rule-edit",
    ),
    path(
        "placements/<slug:name>/rules/<int:rule_id>/delete/",
        placement_edits.rule_delete,
        name="rule-delete",
    ),
    path(
        "placements/<slug:name>/rules/<int:rule_id>/publish/",
        placements.publish,
        name="rule-publish",
    ),
    path(
        "placements/<slug:name>/rules/<int:rule_id>/unpublish/",
        placement_edits.rule_unpublish,
        name="rule-unpublish",
    ),
    path("placements/<slug:name>/whatif/", whatif.start, name="whatif-start"),
    path(
        "placements/<slug:name>/whatif/<int:run_id>/progress/",
        whatif.progress,
        name="whatif-progress",
    ),
    path("experiments/", experiments.experiments, name="experiments"),
    path("experiments/new/", experiments.experiment_create, name="experiment-create"),
    path(
        "experiments/<int:experiment_id>/", experiments.experiment_detail, name="experiment-detail"
    ),
    path(
        "experiments/<int:experiment_id>/start/",
        experiments.experiment_start,
        name="experiment-start",
    ),
    path(
        "experiments/<int:experiment_id>/stop/", experiments.experiment_stop, name="experiment-stop"
    ),
    path(
        "experiments/<int:experiment_id>/promote/<int:variant_id>/",
        experiments.experiment_promote,
        name="experiment-promote",
    ),
    path("cold-start/", cold_start.cold_start, name="cold-start"),
    path("kpis/", kpis.kpis, name="kpis"),
    path("kpis/export.csv", kpis.kpis_csv, name="kpis-csv"),
    path("kpis/rules.csv", kpis.rule_kpis_csv, name="rule-kpis-csv"),
    path("models/", models.models, name="models"),
    path("models/retrain/", models.retrain, name="retrain"),
    path("models/runs/<int:run_id>/progress/", models.run_progress, name="run-progress"),
    path("models/versions/<int:version_id>/promote/", models.promote, name="version-promote"),
    path("models/<str:algorithm>/rollback/", models.roll_back, name="model-rollback"),
]
