"""Where recommendations appear on the shop (a placement) and the merchandiser's rules on them."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from recommender.serving.registry import slot_names

# Lists about a product rather than a shopper (recommender/serving/products.py).
PRODUCT_STRATEGIES = ("similar", "bought_together")


def strategy_names() -> tuple[str, ...]:
    """What a placement may be served by: every registered slot, then the product lists."""
    return (*slot_names(), *PRODUCT_STRATEGIES)


class Context(models.TextChoices):
    SHOPPER = "shopper", "Shopper (home, account pages)"
    PRODUCT = "product", "Product page (needs ?product=)"
    CART = "cart", "Cart (needs ?cart=; its last item anchors product lists)"


class Placement(models.Model):
    """A place in the shop's front end that asks for recommendations by name."""

    name = models.SlugField(
        max_length=80,
        unique=True,
        help_text="What the front end asks for: /api/v1/placements/<name>/recommendations, e.g. "
        '"home-for-you".',
    )
    title = models.CharField(max_length=120, help_text="How the dashboard names it.")
    strategy = models.CharField(
        max_length=40,
        default="for_you",
        help_text="The slot that ranks it (for_you, promotions, trending…), or similar / "
        "bought_together for lists about a product.",
    )
    k = models.PositiveSmallIntegerField(
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(settings.SHELFWISE_MAX_K)],
        help_text="How many products it shows; a request may ask for fewer.",
    )
    context = models.CharField(
        max_length=10,
        choices=Context.choices,
        default=Context.SHOPPER,
        help_text="What the front end sends with each request.",
    )
    fallback = models.JSONField(
        default=list,
        blank=True,
        help_text='Other slots tried in order while the list is short, e.g. ["trending", '
        '"new_arrivals"].',
    )
    exclude_in_cart = models.BooleanField(
        default=True, help_text="Never show what is already in the shopper's cart."
    )
    exclude_bought = models.BooleanField(
        default=False, help_text="Never show what the shopper has bought before."
    )
    max_per_category = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="At most this many products of one category. Empty: no cap.",
    )
    max_per_brand = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="At most this many products of one brand. Empty: no cap."
    )
    min_relevance = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Drop products of its own slot scoring below this share of the slot's best "
        "(0 to 1); the fallback chain fills the gap.",
    )
    is_active = models.BooleanField(default=True, help_text="Switched off: the API answers 404.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(k__gte=1) & models.Q(k__lte=settings.SHELFWISE_MAX_K),
                name="placement_k_in_range",
            ),
            models.CheckConstraint(
                condition=models.Q(min_relevance__gte=0) & models.Q(min_relevance__lte=1),
                name="placement_min_relevance_share",
            ),
        ]

    def __str__(self) -> str:
        return self.title or self.name

    @property
    def about_product(self) -> bool:
        return self.strategy in PRODUCT_STRATEGIES

    def clean(self) -> None:
        known = strategy_names()
        errors: dict[str, str] = {}
        if self.strategy not in known:
            errors["strategy"] = f"Unknown strategy {self.strategy!r}; one of {', '.join(known)}."
        elif self.about_product and self.context == Context.SHOPPER:
            errors["context"] = f"{self.strategy} lists need a product or a cart to be about."
        chain = self.fallback
        if not isinstance(chain, list) or not all(isinstance(name, str) for name in chain):
            errors["fallback"] = 'A list of strategy names, e.g. ["trending"].'
        else:
            unknown = [name for name in chain if name not in known]
            if unknown:
                errors["fallback"] = f"Unknown strategy: {', '.join(unknown)}."
            elif self.strategy in chain or len(set(chain)) < len(chain):
                errors["fallback"] = "Each strategy at most once, the placement's own not again."
            elif self.context == Context.SHOPPER and any(n in PRODUCT_STRATEGIES for n in chain):
                errors["fallback"] = "Product lists need a product or a cart context."
        if errors:
            raise ValidationError(errors)
