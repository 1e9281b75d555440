"""import_events: JSON lines and CSV through ingest_events, idempotent, with line errors."""

from __future__ import annotations

import gzip
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from behavior.models import Event, Shopper
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def jsonl(tmp_path, *events, name="events.jsonl"):
    path = tmp_path / name
    path.write_text("".join(e if isinstance(e, str) else json.dumps(e) for e in events), "utf-8")
    return path


def ev(event_id, **fields):
    return {
        "event_id": event_id,
        "shopper": "c1",
        "product": "SKU-A",
        "kind": "view",
        "occurred_at": "2024-05-01T12:00:00+02:00",
        **fields,
    } | {}


def line(event):
    return json.dumps(event) + "\n"


def run(path, *args):
    out, err = StringIO(), StringIO()
    call_command("import_events", str(path), "--no-progress", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def product():
    return ProductFactory(sku="SKU-A")


def test_a_json_lines_file_is_ingested_and_running_it_again_adds_nothing(tmp_path):
    path = jsonl(tmp_path, line(ev("e1")), "\n", line(ev("e2", kind="purchase", value=2)))

    out, _ = run(path)
    again, _ = run(path)

    assert "2 jsonl lines: 2 events stored, 0 duplicates skipped, 1 new shoppers." in out
    assert "0 events stored, 2 duplicates skipped" in again
    assert Event.objects.count() == 2
    assert Shopper.objects.filter(external_id="c1").exists()


def test_a_gzipped_csv_file_with_empty_cells_is_ingested(tmp_path):
    path = tmp_path / "events.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as fh:
        fh.write("event_id,shopper,product,kind,value,query,occurred_at\n")
        fh.write("e1,c1,SKU-A,add_to_cart,3,,2024-05-01T12:00:00Z\n")
        fh.write("e2,c1,,search,,blue mug,2024-05-01T12:01:00Z\n")

    out, _ = run(path)

    assert "2 csv lines: 2 events stored" in out
    assert Event.objects.get(event_id="e1").value == 3.0
    search = Event.objects.get(event_id="e2")
    assert (search.product, search.query, search.value) == (None, "blue mug", 1.0)


def test_bad_lines_are_reported_by_line_number_and_the_command_fails(tmp_path):
    path = jsonl(
        tmp_path,
        line(ev("e1")),
        "{not json\n",
        line(ev("e3", product="NOPE")),
        "[1, 2]\n",
        line(ev("e5", occurred_at="2024-05-01 12:00")),
        line(ev("e6")),
    )

    with pytest.raises(CommandError, match="4 lines were rejected"):
        call_command(
            "import_events",
            str(path),
            "--no-progress",
            stdout=StringIO(),
            stderr=(err := StringIO()),
        )

    report = err.getvalue()
    assert "line 2: not valid JSON" in report
    assert "line 3: product: Unknown product sku 'NOPE'." in report
    assert "line 4: each line must be one JSON object" in report
    assert "line 5: occurred_at: Needs a time zone" in report
    assert set(Event.objects.values_list("event_id", flat=True)) == {"e1", "e6"}


def test_an_event_dated_before_1970_is_a_bad_line_and_the_good_lines_are_imported(tmp_path):
    path = jsonl(
        tmp_path,
        line(ev("e1")),
        line(ev("bc", occurred_at="0001-01-01T00:30:00+01:00")),
        line(ev("e3")),
    )

    with pytest.raises(CommandError, match="1 lines were rejected"):
        call_command("import_events", str(path), "--no-progress", stderr=(err := StringIO()))

    assert "line 2: occurred_at: Is before 1970-01-01T00:00:00+00:00" in err.getvalue()
    assert set(Event.objects.values_list("event_id", flat=True)) == {"e1", "e3"}


def test_a_dry_run_reports_what_would_happen_and_stores_nothing(tmp_path):
    path = jsonl(tmp_path, line(ev("e1")), line(ev("e1")), line(ev("e2")))

    out, _ = run(path, "--dry-run", "--batch-size", "2")

    assert (
        "Dry run, nothing stored. Would have: 3 jsonl lines: 2 events stored, 1 duplicates" in out
    )
    assert Event.objects.count() == 0
    assert Shopper.objects.count() == 0


def test_an_unreadable_file_stops_with_a_clear_message(tmp_path):
    binary = tmp_path / "events.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    empty = jsonl(tmp_path, "", name="empty.jsonl")

    with pytest.raises(CommandError, match="not UTF-8"):
        run(binary)
    with pytest.raises(CommandError, match="is empty"):
        run(empty)
    with pytest.raises(CommandError, match="Cannot open"):
        run(tmp_path / "missing.jsonl")
