"""Dashboard routes of the catalog app."""

from django.urls import path

from catalog import views

urlpatterns = [
    path("products/", views.product_list, name="product-list"),
]
