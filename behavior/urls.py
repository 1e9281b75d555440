"""Dashboard routes of the behavior app."""

from django.urls import path

from behavior import views

urlpatterns = [
    path("shoppers/", views.shopper_list, name="shopper-list"),
]
