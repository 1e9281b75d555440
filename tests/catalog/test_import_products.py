"""import_products and upsert_products: create, update, leave alone, and refuse bad input."""

from __future__ import annotations

import gzip
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Category, Product
from catalog.services import upsert_products
from catalog.versioning import catalog_version

pytestmark = pytest.mark.django_db

HEADER = (
    "sku,title,description,category,brand,price,currency,stock,is_active,points_price,attributes"
)
MUG = 'MUG-1,Blue Mug,A mug,Home/Kitchen/Mugs,Acme,4.50,GBP,12,true,,"{""colour"": ""blue""}"'
LAMP = "LAMP-1,Desk Lamp,,lighting,,19.99,EUR,,false,500,"


def write(tmp_path, *lines, header=HEADER):
    path = tmp_path / "products.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def run(path, *args):
    out, err = StringIO(), StringIO()
    call_command("import_products", str(path), "--no-progress", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_creates_products_with_every_documented_column_and_the_category_path(tmp_path):
    out, _ = run(write(tmp_path, MUG, LAMP))

    assert "2 lines: 2 created, 0 updated, 0 unchanged." in out
    mug = Product.objects.get(sku="MUG-1")
    assert (mug.title, mug.description, mug.brand) == ("Blue Mug", "A mug", "Acme")
    assert (mug.price, mug.currency, mug.stock, mug.is_active) == (Decimal("4.50"), "GBP", 12, True)
    assert mug.attributes == {"colour": "blue"}
    assert [c.name for c in [*mug.category.ancestors(), mug.category]] == [
        "Home",
        "Kitchen",
        "Mugs",
    ]
    lamp = Product.objects.get(sku="LAMP-1")
    assert (lamp.stock, lamp.is_active, lamp.points_price) == (None, False, 500)
    assert (lamp.category.slug, lamp.category.name, lamp.category.parent) == (
        "lighting",
        "Lighting",
        None,
    )


def test_running_the_same_file_again_changes_nothing_and_a_changed_price_updates(tmp_path):
    run(write(tmp_path, MUG, LAMP))
    stamp = Product.objects.get(sku="MUG-1").updated_at

    out, _ = run(write(tmp_path, MUG, LAMP))
    assert "0 created, 0 updated, 2 unchanged" in out
    assert Product.objects.get(sku="MUG-1").updated_at == stamp

    out, _ = run(write(tmp_path, MUG.replace("4.50", "5.00"), LAMP))
    assert "0 created, 1 updated, 1 unchanged" in out
    assert Product.objects.get(sku="MUG-1").price == Decimal("5.00")
    assert Category.objects.filter(name="Mugs").count() == 1


def test_bad_lines_are_reported_by_line_number_and_the_rest_are_stored(tmp_path):
    path = write(
        tmp_path,
        MUG,
        "BAD-1,No Price,,,,,GBP,,,,",
        "BAD-2,Neg,,,,-1,GBP,-3,maybe,0,[1]",
        "SHORT,Too few",
        LAMP,
    )

    with pytest.raises(CommandError, match="3 lines were rejected"):
        run(path)

    assert set(Product.objects.values_list("sku", flat=True)) == {"MUG-1", "LAMP-1"}


def test_the_rejection_messages_name_the_line_and_field(tmp_path):
    path = write(tmp_path, "BAD-2,Neg,,,,-1,GBP,-3,maybe,0,[1]", "SHORT,Too few")
    err = StringIO()

    with pytest.raises(CommandError):
        call_command("import_products", str(path), "--no-progress", stdout=StringIO(), stderr=err)

    assert "line 2: price: Must be between 0 and" in err.getvalue()
    for field in ("stock", "is_active", "points_price", "attributes"):
        assert f"{field}: " in err.getvalue()
    assert "line 3: expected 11 fields, found 2" in err.getvalue()


def test_a_dry_run_counts_but_stores_nothing(tmp_path):
    out, _ = run(write(tmp_path, MUG, LAMP), "--dry-run")

    assert "Dry run, nothing stored. Would have: 2 lines: 2 created" in out
    assert Product.objects.count() == 0
    assert Category.objects.count() == 0


def test_an_unknown_column_or_a_missing_file_stops_the_command_with_a_message(tmp_path):
    with pytest.raises(CommandError, match="unknown prcie"):
        run(write(tmp_path, "X,Y,1", header="sku,title,prcie"))
    with pytest.raises(CommandError, match="missing price"):
        run(write(tmp_path, "X,Y", header="sku,title"))
    with pytest.raises(CommandError, match="Cannot open"):
        run(tmp_path / "missing.csv")


def test_upsert_leaves_fields_absent_from_the_row_unchanged():
    upsert_products(rows=[{"sku": "A", "title": "A", "price": "1.00", "stock": 5}])

    result = upsert_products(rows=[{"sku": "A", "price": "2.00"}])

    assert result.statuses == ["updated"]
    product = Product.objects.get(sku="A")
    assert (product.title, product.price, product.stock) == ("A", Decimal("2.00"), 5)


def test_a_sku_repeated_within_one_batch_is_rejected_after_the_first():
    result = upsert_products(
        rows=[{"sku": "A", "title": "A", "price": 1}, {"sku": "A", "title": "B", "price": 2}]
    )

    assert result.statuses == ["created", "invalid"]
    assert Product.objects.get(sku="A").title == "A"


@pytest.mark.django_db
def test_an_upsert_that_changes_a_product_moves_the_catalog_version_on_commit(
    django_capture_on_commit_callbacks,
):
    before = catalog_version()

    with django_capture_on_commit_callbacks(execute=True):
        upsert_products(rows=[{"sku": "V-1", "title": "Versioned mug", "price": "4.00"}])
    after_change = catalog_version()
    with django_capture_on_commit_callbacks(execute=True):
        upsert_products(rows=[{"sku": "V-1", "title": "Versioned mug", "price": "4.00"}])

    assert after_change != before
    assert catalog_version() == after_change  # an unchanged row is not a catalog change


@pytest.mark.parametrize("command", ["import_products", "import_events"])
def test_a_file_import_refuses_a_batch_size_below_one_before_reading_anything(command, tmp_path):
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        call_command(command, str(tmp_path / "absent.csv"), "--batch-size", "0")

    assert not Product.objects.exists()


def rejected(path) -> str:
    """The command's stderr, after checking that it failed as a bad-lines import does."""
    err = StringIO()
    with pytest.raises(CommandError, match="lines were rejected"):
        call_command("import_products", str(path), "--no-progress", stdout=StringIO(), stderr=err)
    return err.getvalue()


@pytest.mark.parametrize(
    ("category", "reason"),
    [
        ("/", "A category path needs at least one name"),
        (" / ", "A category path needs at least one name"),
        ("//", "A category path needs at least one name"),
        ("-", "A category name cannot be blank"),  # a slug whose name would be blank
    ],
)
def test_a_category_without_a_name_is_a_bad_line_and_the_good_lines_are_stored(
    tmp_path, category, reason
):
    path = write(
        tmp_path,
        "REV-B-8,Good Line,1.00,Home/Kitchen",
        f"REV-B-9,Bad Line,1.00,{category}",
        header="sku,title,price,category",
    )

    report = rejected(path)

    assert f"line 3: category: {reason}" in report
    assert list(Product.objects.values_list("sku", flat=True)) == ["REV-B-8"]
    assert sorted(Category.objects.values_list("name", flat=True)) == ["Home", "Kitchen"]


@pytest.mark.parametrize("category", ["Rev B/" + "L" * 121, "l" * 121])
def test_a_category_name_over_120_characters_is_refused_and_every_run_stores_nothing(
    tmp_path, category
):
    path = write(tmp_path, f"REV-B-3,T,1.00,{category}", header="sku,title,price,category")

    first, second = rejected(path), rejected(path)

    assert "line 2: category: A category name has at most 120 characters" in first
    assert second == first
    assert not Product.objects.exists()
    assert not Category.objects.exists()


def test_a_category_name_of_exactly_120_characters_is_stored_once(tmp_path):
    path = write(tmp_path, "REV-B-3,T,1.00,Rev B/" + "L" * 120, header="sku,title,price,category")

    run(path)
    out, _ = run(path)

    assert "0 created, 0 updated, 1 unchanged" in out
    assert Product.objects.get().category.name == "L" * 120
    assert Category.objects.count() == 2


@pytest.mark.parametrize(
    ("field", "line"),
    [
        ("sku", "NUL\x00-1,Mug,,,,1.00,GBP,,,,"),
        ("title", "NUL-1,Nul\x00Thing,,,,1.00,GBP,,,,"),
        ("description", "NUL-1,Mug,a\x00b,,,1.00,GBP,,,,"),
        ("category", "NUL-1,Mug,,Home/Ki\x00tchen,,1.00,GBP,,,,"),
        ("brand", "NUL-1,Mug,,,Ac\x00me,1.00,GBP,,,,"),
        ("attributes", 'NUL-1,Mug,,,,1.00,GBP,,,,"{""colour"": ""b\\u0000lue""}"'),
    ],
)
def test_a_nul_character_is_a_bad_line_naming_its_field_and_the_good_lines_are_stored(
    tmp_path, field, line
):
    path = write(tmp_path, MUG, line, LAMP)

    report = rejected(path)

    assert f"line 3: {field}: No NUL characters or lone surrogates" in report
    assert set(Product.objects.values_list("sku", flat=True)) == {"MUG-1", "LAMP-1"}


def test_upsert_refuses_a_lone_surrogate_by_field_and_stores_the_other_rows():
    result = upsert_products(
        rows=[
            {"sku": "S-1", "title": "Mug \ud83d", "price": 1},
            {"sku": "S-2", "title": "Ok", "price": 1},
        ]
    )

    assert result.statuses == ["invalid", "created"]
    assert result.errors == {
        0: {"title": ["No NUL characters or lone surrogates: PostgreSQL cannot store them."]}
    }


@pytest.mark.parametrize("compress", [False, True])
def test_a_utf8_file_with_a_byte_order_mark_is_read_like_one_without(tmp_path, compress):
    # Excel's "CSV UTF-8" starts the file with a BOM, which used to glue itself to "sku".
    content = "\ufeffsku,title,price\nREV-B-6,Bom,1.00\n".encode()
    path = tmp_path / "products.csv"
    path.write_bytes(gzip.compress(content) if compress else content)

    out, _ = run(path)

    assert "1 lines: 1 created" in out
    assert Product.objects.get().sku == "REV-B-6"


def test_blank_lines_are_skipped_and_the_next_line_keeps_its_number(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text("sku,title,price\nX-1,T,1\n\nX-2,T,-1\n\n\n", encoding="utf-8")

    report = rejected(path)

    assert "1 bad lines" in report
    assert "line 4: price: Must be between 0 and" in report
    assert list(Product.objects.values_list("sku", flat=True)) == ["X-1"]


def test_a_trailing_blank_line_is_not_a_bad_line(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text("sku,title,price\nX-1,T,1\n\n", encoding="utf-8")

    out, _ = run(path)

    assert "1 lines: 1 created" in out


def test_cells_escaped_by_the_admin_export_are_loaded_with_their_original_values(tmp_path):
    escaped = '\'-7,"\'=HYPERLINK(""http://x"")",,,\'@acme,4.50,GBP,,true,,'

    run(write(tmp_path, escaped))

    product = Product.objects.get()
    assert (product.sku, product.title, product.brand) == ("-7", '=HYPERLINK("http://x")', "@acme")
