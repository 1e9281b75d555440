"""factory_boy factories for the domain models; tests build exactly the rows they need."""

from __future__ import annotations

from decimal import Decimal

import factory
from django.utils import timezone

from behavior.models import Event, EventKind, Shopper
from catalog.models import Category, Product, Promotion


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    title = factory.Sequence(lambda n: f"Product {n}")
    category = factory.SubFactory(CategoryFactory)
    brand = "Acme"
    price = Decimal("9.99")
    stock = None


class PromotionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Promotion

    name = factory.Sequence(lambda n: f"Promotion {n}")
    discount_percent = Decimal("20")
    starts_at = factory.LazyFunction(lambda: timezone.now() - timezone.timedelta(days=1))
    ends_at = factory.LazyFunction(lambda: timezone.now() + timezone.timedelta(days=7))


class ShopperFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Shopper

    external_id = factory.Sequence(lambda n: f"shopper-{n}")
    country = "GB"
    segment = "regular"


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    event_id = factory.Sequence(lambda n: f"evt-{n}")
    shopper = factory.SubFactory(ShopperFactory)
    product = factory.SubFactory(ProductFactory)
    kind = EventKind.VIEW
    value = 1.0
    occurred_at = factory.LazyFunction(timezone.now)
