"""Dashboard routes of the recommender app: the overview at the site root, and every page that
shows recommendations or models."""

from django.urls import path

from recommender import views

# Shopper ids and SKUs are the shop's own keys and may hold "/" ("TSHIRT/XL"), so they use the
# path converter; a route with a suffix comes before its bare twin, which would swallow it.
urlpatterns = [
    path("", views.overview, name="overview"),
    path("shoppers/<path:external_id>/simulate/", views.simulate_event, name="shopper-simulate"),
    path("shoppers/<path:external_id>/", views.shopper_detail, name="shopper-detail"),
    path("products/<path:sku>/", views.product_detail, name="product-detail"),
    path("promotions/", views.promotions, name="promotions"),
    path("cold-start/", views.cold_start, name="cold-start"),
    path("models/", views.models, name="models"),
    path("models/retrain/", views.retrain, name="retrain"),
    path("models/runs/<int:run_id>/progress/", views.run_progress, name="run-progress"),
    path("models/versions/<int:version_id>/promote/", views.promote, name="version-promote"),
    path("models/<str:algorithm>/rollback/", views.roll_back, name="model-rollback"),
]
