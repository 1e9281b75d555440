"""The REST API under /api/v1/. Each app contributes its routes here."""

from django.urls import path, re_path

from behavior import api as behavior_api
from catalog import api as catalog_api
from config.api import api_not_found
from placements import api as placements_api
from placements.experiments import api as experiments_api
from recommender import api as training_api
from recommender.proof import api as proof_api
from recommender.serving import api as serving_api

app_name = "api"

# Shopper ids and SKUs are the shop's own keys and may hold "/" ("TSHIRT/XL"; a client sends it
# as %2F or as is), so they use the path converter. A route with a suffix comes before its bare
# twin, which would swallow it: ".../X/similar" is the similar items of X.
urlpatterns: list = [
    # First: API paths never end in "/". Without this, ".../recommendations/" reached the
    # shopper route (PUT only) and answered 405 to a GET; every such path is one JSON 404.
    re_path(r"^.*/$", api_not_found, name="trailing-slash"),
    path("events", behavior_api.events_create, name="events"),
    path(
        "shoppers/<path:external_id>/recommendations",
        serving_api.shopper_recommendations,
        name="recommendations",
    ),
    path("shoppers/<path:external_id>", behavior_api.shopper_upsert, name="shopper"),
    path(
        "placements/<str:name>/recommendations",
        placements_api.placement_recommendations_view,
        name="placement-recommendations",
    ),
    path("products", catalog_api.ProductList.as_view(), name="products"),
    path("products/bulk", catalog_api.products_bulk_upsert, name="products-bulk"),
    path("products/<path:sku>/similar", serving_api.product_similar, name="similar"),
    path(
        "products/<path:sku>/bought-together",
        serving_api.product_bought_together,
        name="bought-together",
    ),
    path("products/<path:sku>", catalog_api.product_detail, name="product"),
    path("kpis", proof_api.kpis_list, name="kpis"),
    path("experiments", experiments_api.experiments_list, name="experiments"),
    path(
        "experiments/<int:experiment_id>",
        experiments_api.experiment_detail,
        name="experiment",
    ),
    path("training-runs", training_api.TrainingRuns.as_view(), name="training-runs"),
    path("training-runs/<int:run_id>", training_api.training_run_detail, name="training-run"),
    path("model-versions", training_api.ModelVersions.as_view(), name="model-versions"),
    path(
        "model-versions/<int:version_id>/promote",
        training_api.model_version_promote,
        name="model-version-promote",
    ),
    path("model-versions/rollback", training_api.model_versions_rollback, name="model-rollback"),
]
