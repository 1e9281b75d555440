"""Every dashboard page: the overview at the site root, shoppers, products, promotions and points,
placements and their rules, cold start, models and training. The names are not namespaced
(templates reverse "models")."""

from django.urls import path

from dashboard.views import (
    catalog,
    cold_start,
    kpis,
    models,
    overview,
    placements,
    promotions,
    shoppers,
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
    path(
        "placements/<slug:name>/rules/<int:rule_id>/publish/",
        placements.publish,
        name="rule-publish",
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
