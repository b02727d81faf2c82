"""The interchange CSV and every download: lossless round trip, formula safety, tally columns."""

import csv
import io
import json
import os
import pty
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from sqlalchemy import DateTime, inspect, text
from sqlalchemy.dialects import sqlite

from server import cli, create_app, interchange, reports
from server.models import Response, Unit, db
from tests.conftest import HYMY, TEST_DB_URL, _config, command_env, new_id
from tests.test_rollup import expected as expected_rollup
from tests.test_rollup import stored as rollup_rows

CONTRACT_HEADER = ["id", "unit", "channel", "score", "scale", "reason", "comment", "segment", "lang", "answered_at"]
TALLY_HEADER = ["unit", "period", "answers", "positive", "neutral", "negative", "pct_positive", "pct_negative", "index"]
TRICKY_COMMENTS = [
    "=HYPERLINK(\"http://evil.example\",\"click\")",
    "'=already quoted",
    "''=twice quoted",
    "@SUM(A1:A2)",
    "-5 minutes late",
    "+ plus sign first",
    "'just an apostrophe",
    "comma, \"quotes\" and\na newline",
    "Windows line\r\nbreak",
    "a\ttab, a back\\slash and \\N",  # what PostgreSQL's COPY text escapes, and its NULL
    "Hyvä palvelu, kiitos! Åbo Akademi, ÄÖÅ äöå ß – “lainaus”",
]


def utc(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def add_answer(unit, score=5, at="2026-01-15T10:00:00", **fields):
    row = Response(
        id=new_id(), unit_id=unit.id, channel=fields.pop("channel", "kiosk"), score=score, scale=unit.scale,
        answered_at=utc(at), received_at=datetime.now(UTC), flags=fields.pop("flags", ""), **fields,
    )
    db.session.add(row)
    db.session.commit()
    return row


def hymy(runner, *args):
    return runner.invoke(cli.main, args=[str(a) for a in args])


def rows_of(text):
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.fixture
def sample(make_unit):
    """Two units with answers that exercise every column and every awkward character."""
    unit = make_unit("Vastaanotto", area="Etelä")
    nps = make_unit("Palvelutalo", scale="nps")
    for i, comment in enumerate(TRICKY_COMMENTS):
        add_answer(unit, score=1 + i % 5, at=f"2026-01-{10 + i:02d}T08:{i:02d}:03.123456", comment=comment,
                   reason="waiting_time" if i % 2 else None, lang=("fi", "sv", "en")[i % 3])
    add_answer(unit, score=None, comment="Puhelimessa kiitettiin", channel="spoken", kind="praise")
    add_answer(unit, score=4, segment={"who": "relative", "-age": "65+"}, flags="repeat")
    add_answer(nps, score=0, at="2026-02-01T12:00:00", segment={"visit": "first"})
    add_answer(nps, score=10, at="2026-02-01T12:00:01")
    return unit, nps


@pytest.fixture
def fresh_app(migrated_template, tmp_path):
    """A second Hymy app on its own, freshly migrated database."""
    if TEST_DB_URL:
        pytest.skip("needs a second database; runs on SQLite")
    path = tmp_path / "fresh.sqlite3"
    shutil.copy(migrated_template, path)
    other = create_app(_config(f"sqlite:///{path}"))
    yield other
    with other.app_context():
        db.engine.dispose()


def test_export_then_import_into_a_fresh_database_loses_nothing(app, runner, sample, fresh_app, tmp_path):
    exported = tmp_path / "answers.csv"
    assert hymy(runner, "export", "responses", "-o", exported).exit_code == 0
    units = [(u.code, u.names, u.scale) for u in db.session.execute(db.select(Unit)).scalars()]
    originals = {r.id: r for r in db.session.execute(db.select(Response)).scalars()}

    with fresh_app.app_context():
        for code, names, scale in units:
            db.session.add(Unit(code=code, names=names, scale=scale))
        db.session.commit()
        result = hymy(fresh_app.test_cli_runner(), "import", exported)
        assert result.exit_code == 0, result.output
        assert result.output.strip().splitlines()[-1] == str(len(originals))
        again = tmp_path / "again.csv"
        assert hymy(fresh_app.test_cli_runner(), "export", "responses", "-o", again).exit_code == 0
        imported = {r.id: r for r in db.session.execute(db.select(Response)).scalars()}
        fields = ("channel", "score", "scale", "reason", "comment", "segment", "lang", "answered_at", "flags", "kind")
        copies = {i: tuple(getattr(r, f) for f in fields) for i, r in imported.items()}

    assert again.read_bytes() == exported.read_bytes()
    assert copies == {i: tuple(getattr(r, f) for f in fields) for i, r in originals.items()}
    assert {r.comment for r in originals.values()} >= set(TRICKY_COMMENTS)


def test_no_csv_cell_starts_like_a_formula(runner, sample):
    result = hymy(runner, "export", "responses")
    rows = rows_of(result.output)
    cells = [cell for row in rows for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")]
    comments = [row[6] for row in rows[1:]]
    assert "'=HYPERLINK(\"http://evil.example\",\"click\")" in comments
    assert "''=already quoted" in comments
    assert "'''=twice quoted" in comments
    assert "'@SUM(A1:A2)" in comments
    assert "'-5 minutes late" in comments
    # Text that would not run as a formula is left exactly as it was.
    assert "'just an apostrophe" in comments
    assert "who=relative;-age=65+" in [row[7] for row in rows[1:]]


def test_no_xlsx_cell_is_a_formula(client, login_as, sample, tmp_path, runner):
    unit, _nps = sample
    out = tmp_path / "answers.xlsx"
    assert hymy(runner, "export", "responses", "--format", "xlsx", "-o", out).exit_code == 0
    login_as("admin")
    downloaded = client.get(f"/manage/units/{unit.code}/export.xlsx?kind=responses")
    assert downloaded.status_code == 200
    for workbook in (load_workbook(out), load_workbook(io.BytesIO(downloaded.data))):
        sheet = workbook.active
        cells = [cell for row in sheet.iter_rows() for cell in row if cell.value is not None]
        assert not [c.coordinate for c in cells if c.data_type == "f"]
        assert not [c.value for c in cells if isinstance(c.value, str) and c.value[:1] in "=+-@"]
        comments = [row[6] for row in sheet.iter_rows(min_row=2, values_only=True)]
        assert "'=HYPERLINK(\"http://evil.example\",\"click\")" in comments


def test_the_tally_csv_has_the_contract_columns_and_leaves_small_counts_empty(runner, make_unit):
    unit = make_unit("Vastaanotto")
    for score in (5, 5, 5, 4, 1):
        add_answer(unit, score=score, at="2026-01-15T10:00:00")
    for score in (5, 1):
        add_answer(unit, score=score, at="2026-01-16T10:00:00")
    result = hymy(runner, "export", "tally", "--unit", unit.code)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output, newline="")))
    assert list(rows[0])[:9] == TALLY_HEADER
    full, small = rows
    assert (full["period"], full["answers"], full["positive"], full["neutral"], full["negative"]) == (
        "2026-01-15", "5", "4", "0", "1")
    assert (full["pct_positive"], full["pct_negative"], full["index"]) == ("80.0", "20.0", "75.0")
    assert (small["period"], small["answers"]) == ("2026-01-16", "2")
    assert [small[c] for c in TALLY_HEADER[3:]] == [""] * 6


@pytest.mark.parametrize(
    ("bucket", "periods"),
    [("day", ["2026-01-04", "2026-01-05"]), ("week", ["2026-W01", "2026-W02"]), ("month", ["2026-01"])],
)
def test_the_tally_buckets_by_local_day_week_and_month(runner, make_unit, bucket, periods):
    unit = make_unit("Vastaanotto")
    add_answer(unit, at="2026-01-04T21:30:00")  # Sunday 23:30 in Helsinki
    add_answer(unit, at="2026-01-04T22:30:00")  # Monday 00:30 in Helsinki
    result = hymy(runner, "export", "tally", "--bucket", bucket)
    assert [r["period"] for r in csv.DictReader(io.StringIO(result.output))] == periods


def test_from_and_to_are_inclusive_local_days(runner, make_unit):
    unit = make_unit("Vastaanotto")
    before = add_answer(unit, at="2026-01-14T21:30:00")  # 14 January, 23:30 local
    first = add_answer(unit, at="2026-01-14T22:30:00")  # 15 January, 00:30 local
    last = add_answer(unit, at="2026-01-16T21:59:59")  # 16 January, 23:59:59 local
    after = add_answer(unit, at="2026-01-16T22:00:00")  # 17 January, 00:00 local
    result = hymy(runner, "export", "responses", "--from", "2026-01-15", "--to", "2026-01-16")
    ids = [r["id"] for r in csv.DictReader(io.StringIO(result.output))]
    assert ids == [first.id, last.id]
    assert before.id not in ids and after.id not in ids
    everything = hymy(runner, "export", "responses")
    assert len(list(csv.DictReader(io.StringIO(everything.output)))) == 4


def write_csv(path, rows, header=CONTRACT_HEADER):
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def row(for_unit, **cells):
    values = {"id": new_id(), "unit": for_unit.code, "channel": "kiosk", "score": "5", "scale": "smiley5", "reason": "",
              "comment": "", "segment": "", "lang": "fi", "answered_at": "2026-01-15T10:00:00Z"} | cells
    return [values[c] for c in CONTRACT_HEADER]


def count_responses():
    return db.session.execute(db.select(db.func.count()).select_from(Response)).scalar_one()


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"score": "6"}, "score"),
        ({"score": "five"}, "score"),
        ({"unit": "nosuchunit"}, "unit"),
        ({"id": "not-a-uuid"}, "id"),
        ({"channel": "pigeon"}, "channel"),
        ({"scale": "stars"}, "scale"),
        ({"lang": "de"}, "lang"),
        ({"answered_at": "yesterday"}, "answered_at"),
        ({"answered_at": "2026-01-15T10:00:00"}, "answered_at"),
        ({"answered_at": "2026-01-15Z"}, "answered_at"),
        ({"answered_at": "1969-12-31T23:59:59Z"}, "answered_at"),  # before the years the rollup knows
        ({"answered_at": "0001-01-01T01:00:00+02:00"}, "answered_at"),
        ({"segment": "no-equals-sign"}, "segment"),
        ({"score": "", "comment": ""}, "score"),
        ({"comment": "x" * 2001}, "comment"),
        ({"comment": "nul\x00here"}, "comment"),
    ],
)
def test_a_bad_row_names_its_line_and_field_and_stores_nothing(runner, make_unit, tmp_path, bad, field):
    unit = make_unit("Vastaanotto")
    # The first row spans two physical lines; the bad row starts on line 4.
    path = write_csv(tmp_path / "in.csv", [row(unit, comment="kaksi\nriviä"), row(unit, **bad), row(unit)])
    result = hymy(runner, "import", path)
    assert result.exit_code != 0
    assert "line 4" in result.output
    assert f"(field {field})" in result.output
    assert count_responses() == 0


def test_a_bad_row_after_many_good_batches_still_stores_nothing(app, make_unit, tmp_path):
    unit = make_unit("Vastaanotto")
    path = write_csv(tmp_path / "in.csv", [row(unit) for _ in range(25)] + [row(unit, score="0")])
    with path.open(encoding="utf-8", newline="") as file, pytest.raises(interchange.ImportError_, match="line 27"):
        interchange.import_csv(file, batch_size=10)
    assert count_responses() == 0


def test_a_row_with_more_cells_than_the_header_is_refused_but_empty_trailing_cells_are_not(runner, make_unit, tmp_path):
    unit = make_unit("Vastaanotto")
    shifted = write_csv(tmp_path / "shifted.csv", [row(unit), row(unit) + ["Kiitos"]])
    result = hymy(runner, "import", shifted)
    assert result.exit_code != 0
    assert "line 3: 11 cells where the header names 10" in result.output
    assert count_responses() == 0
    trailing = write_csv(tmp_path / "trailing.csv", [row(unit) + ["", ""]])
    assert hymy(runner, "import", trailing).exit_code == 0
    assert count_responses() == 1


def test_a_header_without_a_contract_column_is_refused(runner, make_unit, tmp_path):
    unit = make_unit("Vastaanotto")
    path = write_csv(tmp_path / "in.csv", [row(unit)[:-1]], header=CONTRACT_HEADER[:-1])
    result = hymy(runner, "import", path)
    assert result.exit_code != 0
    assert "answered_at" in result.output


def test_importing_the_same_file_twice_stores_nothing_the_second_time(runner, make_unit, tmp_path):
    unit = make_unit("Vastaanotto")
    path = write_csv(tmp_path / "in.csv", [row(unit), row(unit, score="", comment="Kirje", channel="letter")])
    assert hymy(runner, "import", path).output.strip().splitlines()[-1] == "2"
    second = hymy(runner, "import", path)
    assert second.exit_code == 0
    assert second.output.strip().splitlines() == ["2 rows were stored already and were skipped", "0"]
    assert count_responses() == 2


def test_a_known_id_with_other_content_is_refused(runner, make_unit, tmp_path):
    unit = make_unit("Vastaanotto")
    same_id = new_id()
    write_csv(tmp_path / "first.csv", [row(unit, id=same_id, score="5")])
    hymy(runner, "import", tmp_path / "first.csv")
    path = write_csv(tmp_path / "second.csv", [row(unit), row(unit, id=same_id, score="1")])
    result = hymy(runner, "import", path)
    assert result.exit_code != 0
    assert "line 3" in result.output and "other content" in result.output
    assert count_responses() == 1
    assert db.session.get(Response, same_id).score == 5


def test_a_repeated_id_within_one_file_is_stored_once(runner, make_unit, tmp_path):
    unit = make_unit("Vastaanotto")
    twice = row(unit)
    result = hymy(runner, "import", write_csv(tmp_path / "in.csv", [twice, twice]))
    assert result.output.strip().splitlines()[-1] == "1"


def test_a_repeated_id_in_a_later_batch_is_a_duplicate_when_equal_and_refused_when_not(app, make_unit, tmp_path):
    unit = make_unit("Vastaanotto")
    twice = row(unit)
    path = write_csv(tmp_path / "in.csv", [twice, row(unit), row(unit), twice])
    with path.open(encoding="utf-8", newline="") as file:
        assert interchange.import_csv(file, batch_size=2) == (3, 1)
    changed = write_csv(tmp_path / "changed.csv", [row(unit), row(unit), row(unit, id=twice[0], score="1")])
    with changed.open(encoding="utf-8", newline="") as file, pytest.raises(interchange.ImportError_, match="line 4"):
        interchange.import_csv(file, batch_size=2)
    assert count_responses() == 3


def test_imported_answers_fall_on_the_same_local_days_as_any_other(runner, make_unit, tmp_path):
    unit = make_unit("Vastaanotto")
    # Midnight in Helsinki exactly, with and without a fraction of a second, and one just before.
    midnight, later, before = row(unit), row(unit), row(unit)
    midnight[9], later[9], before[9] = "2026-01-14T22:00:00Z", "2026-01-14T22:00:00.5Z", "2026-01-14T21:59:59.999999Z"
    hymy(runner, "import", write_csv(tmp_path / "in.csv", [midnight, later, before]))
    on_the_15th = hymy(runner, "export", "responses", "--from", "2026-01-15", "--to", "2026-01-15")
    assert [r["id"] for r in csv.DictReader(io.StringIO(on_the_15th.output))] == [midnight[0], later[0]]
    assert [r["answered_at"] for r in csv.DictReader(io.StringIO(on_the_15th.output))] == [
        "2026-01-14T22:00:00Z", "2026-01-14T22:00:00.500000Z"]


def test_a_reason_key_that_starts_like_a_formula_is_neutralised_and_round_trips(runner, make_unit, tmp_path):
    unit = make_unit("Vastaanotto")
    answer = row(unit, reason="-late", segment="@who=-me")
    hymy(runner, "import", write_csv(tmp_path / "in.csv", [answer]))
    exported = rows_of(hymy(runner, "export", "responses").output)
    assert (exported[1][5], exported[1][7]) == ("'-late", "'@who=-me")
    assert db.session.get(Response, answer[0]).reason == "-late"


def test_an_export_without_answers_is_the_header_alone(runner, make_unit):
    make_unit("Vastaanotto")
    assert rows_of(hymy(runner, "export", "responses").output) == [interchange.RESPONSE_HEADER]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.lists(st.text() | st.integers() | st.none(), min_size=3, max_size=3), max_size=30))
def test_csv_cells_from_outside_are_neutralised_one_by_one(rows):
    header = ["unit", "comment", "segment"]
    expected = io.StringIO()
    writer = csv.writer(expected, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([[interchange.neutralise(cell) for cell in row] for row in rows])
    assert "".join(interchange.csv_lines(header, rows, rows_per_chunk=7)) == expected.getvalue()


# Text as it may be stored: any character a database holds (no NUL, no lone surrogate), with
# those that matter to a CSV or a spreadsheet drawn often, and often first.
STORED_TEXT = st.builds(
    str.__add__, st.sampled_from(["", "", "'", "''", "=", "'+", "-", "@"]),
    st.text(st.sampled_from(list(',"\r\n\'=+-@ ;aä😀\t')) | st.characters(
        blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.sampled_from(list(',"\r\n\'=+-@a')), min_size=1, max_size=6),
       st.lists(st.tuples(STORED_TEXT | st.none(), STORED_TEXT | st.none(),
                          st.dictionaries(STORED_TEXT.filter(bool), STORED_TEXT, max_size=2) | st.none()),
                min_size=1, max_size=4))
def test_the_csv_the_database_writes_is_the_csv_writer_s_of_the_neutralised_cells(app, make_unit, code, answers):
    # Stored directly, as no way in would store most of these: the export must not rely on that.
    unit = make_unit("Vastaanotto", code=code)
    for n, (reason, comment, segment) in enumerate(answers):
        add_answer(unit, at=f"2026-01-15T10:00:0{n}", reason=reason, comment=comment, segment=segment or None)
    try:
        header, rows = interchange.export_table("responses", [unit], "day", None, None, "Europe/Helsinki")
        by_the_database = "".join(interchange.csv_lines(header, rows))
        by_csv_writer = "".join(interchange.csv_lines(header, list(rows)))  # rows of cells: the writer's own path
        assert by_the_database == by_csv_writer
        assert len(rows_of(by_the_database)) == 1 + len(answers)
    finally:
        db.session.rollback()
        db.session.execute(db.delete(Response).where(Response.unit_id == unit.id))
        db.session.delete(unit)
        db.session.commit()


def test_imported_comments_are_scrubbed_of_personal_data(runner, make_unit, tmp_path):
    unit = make_unit("Vastaanotto")
    answer = row(unit, comment="Soittakaa 040 123 4567 tai maija@example.org")
    hymy(runner, "import", write_csv(tmp_path / "in.csv", [answer]))
    stored = db.session.get(Response, answer[0]).comment
    assert "4567" not in stored and "maija@example.org" not in stored


@pytest.mark.parametrize(
    ("cell", "written"),
    [("=1+1", "'=1+1"), ("'=1+1", "''=1+1"), ("+358", "'+358"), ("-", "'-"), ("@x", "'@x"),
     ("'plain", "'plain"), ("plain", "plain"), ("", ""), (5, 5), (-1.5, -1.5)],
)
def test_neutralise_and_unneutralise_are_exact_inverses(cell, written):
    assert interchange.neutralise(cell) == written
    if isinstance(cell, str):
        assert interchange.unneutralise(written) == cell


def test_an_export_of_one_unit_holds_its_answers_alone_and_one_of_all_units_holds_every_answer(runner, make_unit):
    one, other = make_unit("Vastaanotto"), make_unit("Palvelutalo")
    mine = add_answer(one, at="2026-01-15T10:00:00", segment={"who": "relative"})
    theirs = add_answer(other, at="2026-01-15T09:00:00")
    only_one = rows_of(hymy(runner, "export", "responses", "--unit", one.code).output)
    assert [r[0] for r in only_one[1:]] == [mine.id]
    assert only_one[1][1] == one.code and only_one[1][7] == "who=relative"
    everything = rows_of(hymy(runner, "export", "responses").output)
    assert [(r[0], r[1]) for r in everything[1:]] == [(theirs.id, other.code), (mine.id, one.code)]


def response_indexes():
    return sorted((i["name"], tuple(i["column_names"])) for i in inspect(db.engine).get_indexes("response"))


def import_file(path, **options):
    with path.open(encoding="utf-8", newline="") as file:
        return interchange.import_csv(file, **options)


@pytest.fixture
def set_aside(monkeypatch):
    """Count the times an import sets the indexes aside (a large import on SQLite)."""
    calls = []
    original = interchange._set_indexes_aside

    def counted(connection):
        calls.append(connection.dialect.name)
        return original(connection)

    monkeypatch.setattr(interchange, "_set_indexes_aside", counted)
    return calls


def test_a_large_import_finds_duplicates_exactly_and_leaves_every_index_in_place(app, make_unit, tmp_path, set_aside):
    unit = make_unit("Vastaanotto")
    stored = [row(unit) for _ in range(4)]
    import_file(write_csv(tmp_path / "first.csv", stored))
    indexes = response_indexes()
    # Forty new rows, then the stored ones again in the last batch, long after the indexes went aside.
    big = write_csv(tmp_path / "big.csv", [row(unit) for _ in range(40)] + stored)
    assert import_file(big, batch_size=5, bulk_rows=10) == (40, 4)
    assert set_aside == (["sqlite"] if db.engine.dialect.name == "sqlite" else [])
    assert response_indexes() == indexes
    assert count_responses() == 44
    # The figures read the rebuilt covering index: the dashboard counts every answer.
    assert reports.tally([unit]).answers == 44
    # And the weekly rollup's triggers saw every row the bulk path wrote, once.
    assert rollup_rows() == expected_rollup() and sum(rollup_rows().values()) == 44


def test_a_conflict_late_in_a_large_import_stores_nothing_and_keeps_the_indexes(app, make_unit, tmp_path, set_aside):
    unit = make_unit("Vastaanotto")
    stored = row(unit)
    import_file(write_csv(tmp_path / "first.csv", [stored]))
    indexes = response_indexes()
    changed = [*stored[:3], "1", *stored[4:]]
    big = write_csv(tmp_path / "big.csv", [row(unit) for _ in range(40)] + [changed])
    with pytest.raises(interchange.ImportError_, match="line 42"):
        import_file(big, batch_size=5, bulk_rows=10)
    assert set_aside or db.engine.dialect.name != "sqlite"
    assert response_indexes() == indexes
    assert count_responses() == 1


DYING_IMPORT = """
import json, multiprocessing, os, sys
from server import create_app, interchange

writer = interchange._batch_writer


def dies_at_the_third_batch(connection):
    store, batches = writer(connection), []

    def storing(batch, tally):
        batches.append(batch)
        if len(batches) == 3:
            print(*(child.pid for child in multiprocessing.active_children()), flush=True)  # the forked reader
            os._exit(3)  # the process dies: no rollback, no clean-up
        return store(batch, tally)
    return storing


interchange._batch_writer = dies_at_the_third_batch
size = int(sys.argv[3])
with create_app(json.loads(sys.argv[1])).app_context(), open(sys.argv[2], encoding="utf-8", newline="") as file:
    interchange.import_csv(file, batch_size=size, bulk_rows=size, read_ahead=True)
"""


def import_dying_at_the_third_batch(app, path, batch_size):
    """Import a file in a process of its own that dies at its third batch; return that process's output."""
    config = _config(app.config["SQLALCHEMY_DATABASE_URI"])
    died = subprocess.run([sys.executable, "-c", DYING_IMPORT, json.dumps(config), str(path), str(batch_size)],
                          capture_output=True, text=True, timeout=60)
    assert died.returncode == 3, died.stderr
    return died.stdout


def test_an_import_that_dies_after_setting_the_indexes_aside_leaves_them_and_the_answers_as_they_were(
        app, make_unit, tmp_path):
    if TEST_DB_URL:
        pytest.skip("the indexes are set aside on SQLite only")
    unit = make_unit("Vastaanotto")
    kept = row(unit)
    import_file(write_csv(tmp_path / "first.csv", [kept]))
    indexes = response_indexes()
    big = write_csv(tmp_path / "big.csv", [row(unit) for _ in range(20)])
    import_dying_at_the_third_batch(app, big, 5)
    assert response_indexes() == indexes
    assert db.session.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
    assert db.session.execute(db.select(Response.id)).scalars().all() == [kept[0]]
    # The next import goes through whole.
    assert import_file(big, batch_size=5, bulk_rows=5) == (20, 0)
    assert response_indexes() == indexes


def test_a_large_import_fires_other_triggers_on_the_answers_for_every_row(app, make_unit, tmp_path, set_aside):
    """Only the rollup's own insert trigger is set aside (the import counts the rollup itself)."""
    if TEST_DB_URL:
        pytest.skip("the indexes are set aside on SQLite only")
    unit = make_unit("Vastaanotto")
    db.session.execute(text("CREATE TABLE seen (id TEXT)"))
    db.session.execute(text("CREATE TRIGGER response_seen AFTER INSERT ON response BEGIN"
                            " INSERT INTO seen (id) VALUES (new.id); END"))
    db.session.commit()
    rows = [row(unit) for _ in range(30)]
    assert import_file(write_csv(tmp_path / "big.csv", rows), batch_size=5, bulk_rows=10) == (30, 0)
    assert set_aside == ["sqlite"]
    assert sorted(db.session.execute(text("SELECT id FROM seen")).scalars()) == sorted(r[0] for r in rows)


def test_the_empty_cells_of_a_large_import_are_stored_as_null(app, make_unit, tmp_path, set_aside):
    unit = make_unit("Vastaanotto")
    rows = [row(unit, score="" if i % 2 else "3", comment="Kiitos" if i % 2 else "", lang="") for i in range(30)]
    assert import_file(write_csv(tmp_path / "big.csv", rows), batch_size=5, bulk_rows=10) == (30, 0)
    nulls = db.session.execute(text(
        "SELECT count(score), count(reason), count(comment), count(segment), count(lang), count(kind) FROM response"
    )).one()
    assert tuple(nulls) == (15, 0, 15, 0, 0, 0)
    assert db.session.execute(db.select(Response.score).where(Response.score.is_not(None))).scalars().all() == [3] * 15


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31)),
       st.sampled_from(["%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%f+00:00",
                        "%Y-%m-%dT%H:%M:%S.%f+03:00", "%G-W%V-%uT%H:%M:%S.%fZ", "%Y%m%dT%H%M%S.%fZ"]))
def test_an_imported_time_is_stored_in_the_text_sqlalchemy_writes(moment, form):
    dialect = sqlite.dialect()
    sqlalchemy_text = DateTime().dialect_impl(dialect).bind_processor(dialect)
    written = moment.strftime(form)
    naive_utc = moment - (timedelta(hours=3) if form.endswith("+03:00") else timedelta(0))
    if "%f" not in form:
        naive_utc = naive_utc.replace(microsecond=0)
    assert interchange._answered_at_text(written) == sqlalchemy_text(naive_utc)


READ_AHEAD_IMPORT = """
import json, sys
from server import create_app, interchange

forks = []
original = interchange._read_ahead


def counted(batches):
    forks.append(1)
    return original(batches)


interchange._read_ahead = counted
with create_app(json.loads(sys.argv[1])).app_context(), open(sys.argv[2], encoding="utf-8", newline="") as file:
    try:
        print(json.dumps([*interchange.import_csv(file, batch_size=5, bulk_rows=5, read_ahead=True), len(forks)]))
    except (interchange.ImportError_, UnicodeDecodeError) as exc:
        print(json.dumps([type(exc).__name__, str(exc), len(forks)]))
"""


def import_read_ahead(app, path):
    """Import a file in a process of its own (one without other threads), reading it in a forked one."""
    config = _config(app.config["SQLALCHEMY_DATABASE_URI"])
    done = subprocess.run([sys.executable, "-c", READ_AHEAD_IMPORT, json.dumps(config), str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_file_read_in_a_process_of_its_own_is_stored_whole_and_counted_once(app, make_unit, tmp_path):
    unit = make_unit("Vastaanotto")
    stored = [row(unit, score=str(1 + i % 5)) for i in range(4)]
    import_file(write_csv(tmp_path / "first.csv", stored))
    indexes = response_indexes()
    big = write_csv(tmp_path / "big.csv", [row(unit, score=str(1 + i % 5)) for i in range(40)] + stored)
    assert import_read_ahead(app, big) == [40, 4, 1]
    db.session.expire_all()
    assert count_responses() == 44
    assert response_indexes() == indexes
    assert rollup_rows() == expected_rollup() and sum(rollup_rows().values()) == 44


def test_a_person_at_a_terminal_sees_one_progress_bar_ending_once_when_a_forked_process_reads(app, make_unit,
                                                                                              tmp_path):
    unit = make_unit("Vastaanotto")
    rows = [row(unit, comment="kiitos " * 150) for _ in range(1200)]
    path = write_csv(tmp_path / "big.csv", rows)
    assert path.stat().st_size >= interchange.READ_AHEAD_BYTES  # read by a forked process
    controller, terminal = pty.openpty()
    process = subprocess.Popen([HYMY, "import", str(path)], env=command_env(app),
                               stdin=terminal, stdout=terminal, stderr=terminal)
    os.close(terminal)
    seen = b""
    while chunk := _read_terminal(controller):
        seen += chunk
    os.close(controller)
    assert process.wait(timeout=60) == 0
    # What the person's screen holds at the end: the bar, full, then the count on the next line.
    lines = [line.rsplit("\r", 1)[-1] for line in seen.decode().replace("\x1b[?25l", "").replace("\x1b[?25h", "")
             .replace("\r\n", "\n").split("\n")]
    assert "Importing" in lines[-3] and "100%" in lines[-3]
    assert lines[-2:] == ["1200", ""]


def _read_terminal(controller):
    """Read what a program wrote to its terminal; b"" once it has closed it."""
    try:
        return os.read(controller, 65536)
    except OSError:  # Linux: the other end is closed
        return b""


def test_a_conflict_at_the_end_of_a_file_read_in_a_process_of_its_own_stores_nothing(app, make_unit, tmp_path):
    unit = make_unit("Vastaanotto")
    rows = [row(unit) for _ in range(40)]
    changed = [*rows[38][:3], "1", *rows[38][4:]]  # line 40's id again, with another score
    result = import_read_ahead(app, write_csv(tmp_path / "big.csv", rows + [changed]))
    assert result == ["ImportError_", f"line 42: the id {changed[0]} is already stored with other content (field id)", 1]
    db.session.expire_all()
    assert count_responses() == 0


def test_a_byte_that_is_not_utf8_late_in_a_file_read_in_a_process_of_its_own_stores_nothing(app, make_unit,
                                                                                            tmp_path):
    unit = make_unit("Vastaanotto")
    # Far enough into the file that the forked process, not the first read for the header, meets it.
    path = write_csv(tmp_path / "big.csv", [row(unit) for _ in range(400)])
    with path.open("ab") as file:
        file.write(",".join(row(unit)).encode()[:-2] + b"\xff\r\n")
    assert import_read_ahead(app, path)[::2] == ["UnicodeDecodeError", 1]
    db.session.expire_all()
    assert count_responses() == 0


def test_segmented_rows_repeated_in_a_file_and_imported_again_are_duplicates(app, make_unit, tmp_path):
    unit = make_unit("Vastaanotto")
    segmented = row(unit, segment="age=18-29;visit=first")
    path = write_csv(tmp_path / "in.csv", [segmented, row(unit), segmented])
    assert import_file(path) == (2, 1)
    assert import_file(path) == (0, 3)
    stored = db.session.execute(db.select(Response.segment).where(Response.id == segmented[0])).scalar_one()
    assert stored == {"age": "18-29", "visit": "first"}


def running(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


def test_the_forked_reader_ends_when_the_import_dies(app, make_unit, tmp_path):
    unit = make_unit("Vastaanotto")
    # More rows than the pipe holds: the reader is still writing when the import dies.
    path = write_csv(tmp_path / "big.csv", [row(unit, comment="x" * 200) for _ in range(12_000)])
    (pid,) = map(int, import_dying_at_the_third_batch(app, path, 500).split())
    deadline = time.monotonic() + 10
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(pid)
    assert count_responses() == 0
