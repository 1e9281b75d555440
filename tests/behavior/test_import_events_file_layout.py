"""import_events reads files as shops write them: a byte order mark, blank lines anywhere."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from behavior.models import Event
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

GOOD = json.dumps({"event_id": "g1", "shopper": "c1", "product": "SKU-A", "kind": "view"})


@pytest.fixture(autouse=True)
def product():
    return ProductFactory(sku="SKU-A")


def write(tmp_path, text: str):
    path = tmp_path / "events"
    path.write_bytes(text.encode())
    return path


def run(path) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_events", str(path), "--no-progress", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def rejected(path) -> str:
    err = StringIO()
    with pytest.raises(CommandError, match="lines were rejected"):
        call_command("import_events", str(path), "--no-progress", stdout=StringIO(), stderr=err)
    return err.getvalue()


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (f"\ufeff{GOOD}\n", "jsonl"),
        ("\ufeffevent_id,shopper,product,kind\ng1,c1,SKU-A,view\n", "csv"),
    ],
)
def test_a_utf8_file_with_a_byte_order_mark_is_read_like_one_without(tmp_path, text, kind):
    out, _ = run(write(tmp_path, text))

    assert f"1 {kind} lines: 1 events stored" in out
    assert Event.objects.get().event_id == "g1"


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_leading_blank_lines_keep_the_json_lines_numbers_those_of_the_file(tmp_path, newline):
    text = newline.join(["", "", GOOD, "{bad", "  ", "[1]", ""])

    report = rejected(write(tmp_path, text))

    assert "line 4: not valid JSON" in report
    assert "line 6: each line must be one JSON object" in report
    assert Event.objects.get().event_id == "g1"


def test_leading_blank_lines_keep_the_csv_line_numbers_those_of_the_file(tmp_path):
    text = "\n \nevent_id,shopper,product,kind\ng1,c1,SKU-A,view\ng2,c1,NOPE,view\ng3,c1\n"

    report = rejected(write(tmp_path, text))

    assert "line 5: product: Unknown product sku 'NOPE'." in report
    assert "line 6: expected 4 fields, found 2" in report
    assert Event.objects.get().event_id == "g1"


def test_a_file_of_one_unfinished_json_line_is_reported_not_skipped(tmp_path):
    report = rejected(write(tmp_path, "\n{"))

    assert "line 2: not valid JSON" in report
