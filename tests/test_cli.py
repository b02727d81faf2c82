"""The `hymy` command as DESIGN.md fixes it: last-line contracts, JSON shapes, clear errors."""

import csv
import io
import json
import re
import sys
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from server import cli
from server.models import Area, Device, Response, Unit, User, db
from tests.conftest import PASSWORD, new_id


@pytest.fixture
def hymy(runner):
    """Run a hymy command against the test app; return the click Result."""

    def invoke(*args, input=None):
        return runner.invoke(cli.main, args=[str(a) for a in args], input=input)

    return invoke


def last_line(result):
    return result.output.strip().splitlines()[-1]


def add_answer(unit, score=5, at="2026-01-15T10:00:00+00:00", **fields):
    row = Response(
        id=new_id(), unit_id=unit.id, channel="kiosk", score=score, scale=unit.scale,
        answered_at=datetime.fromisoformat(at), received_at=datetime.now(UTC), flags="", **fields,
    )
    db.session.add(row)
    db.session.commit()
    return row


def test_units_add_prints_the_new_code_as_its_last_line(hymy):
    result = hymy("units", "add", "Neuvola", "--area", "Etelä")
    assert result.exit_code == 0, result.output
    code = last_line(result)
    unit = db.session.execute(db.select(Unit).where(Unit.code == code)).scalar_one()
    assert unit.names == {"fi": "Neuvola"}
    assert unit.area.name == "Etelä"
    assert unit.scale == "smiley5"


def test_units_add_reuses_an_area_named_by_its_code(hymy):
    hymy("units", "add", "Neuvola", "--area", "Etelä")
    area = db.session.execute(db.select(Area)).scalar_one()
    result = hymy("units", "add", "Hammashoitola", "--area", area.code, "--scale", "nps")
    assert result.exit_code == 0, result.output
    assert db.session.execute(db.select(db.func.count()).select_from(Area)).scalar_one() == 1
    unit = db.session.execute(db.select(Unit).where(Unit.code == last_line(result))).scalar_one()
    assert (unit.area.name, unit.scale) == ("Etelä", "nps")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["units", "add", "  "], "needs a name"),
        (["units", "add", "Neuvola", "--scale", "stars"], "stars"),
        (["devices", "add", "nosuchunit"], "no unit with code 'nosuchunit'"),
        (["export", "tally", "--unit", "nosuchunit"], "no unit with code 'nosuchunit'"),
        (["export", "tally", "--area", "Atlantis"], "no area named 'Atlantis'"),
        (["export", "responses", "--from", "2026-13-01"], "--from must be a date"),
        (["export", "responses", "--to", "yesterday"], "--to must be a date"),
        (["export", "tally", "--from", "2026-02-01", "--to", "2026-01-01"], "comes after"),
        (["export", "tally", "--bucket", "year"], "year"),
        (["export", "tally", "--format", "xlsx"], "needs -o FILE"),
        (["import", "/nonexistent/answers.csv"], "does not exist"),
    ],
)
def test_a_bad_command_fails_with_a_clear_message(hymy, args, message):
    result = hymy(*args)
    assert result.exit_code != 0
    assert message in result.output


def test_units_list_json_has_code_name_scale_and_area(hymy, make_unit):
    with_area = make_unit("Sosiaalitoimisto", area="Pohjoinen", scale="smiley4")
    without = make_unit("Kotihoito")
    result = hymy("units", "list", "--json")
    assert result.exit_code == 0, result.output
    units = json.loads(result.output)
    assert [u["code"] for u in units] == [with_area.code, without.code]
    first, second = units
    assert first["name"] == "Sosiaalitoimisto"
    assert first["scale"] == "smiley4"
    assert first["area"] == {"code": with_area.area.code, "name": "Pohjoinen"}
    assert second["area"] is None


def test_units_list_prints_one_line_per_unit(hymy, make_unit):
    unit = make_unit("Kotihoito Etelä", area="Etelä")
    result = hymy("units", "list")
    assert result.exit_code == 0
    assert result.output.splitlines() == [f"{unit.code}\tsmiley5\tEtelä\tKotihoito Etelä"]


def test_devices_add_prints_a_working_enrolment_link_last(hymy, make_unit, client):
    unit = make_unit("Vastaanotto")
    result = hymy("devices", "add", unit.code, "--name", "Aula")
    assert result.exit_code == 0, result.output
    link = last_line(result)
    match = re.fullmatch(rf"http://hymy\.test/k/{unit.code}\?enrol=(\S+)", link)
    assert match, link
    enrolled = client.post("/api/v1/devices/enrol", json={"code": match.group(1)})
    assert enrolled.status_code == 201
    assert db.session.execute(db.select(Device)).scalar_one().name == "Aula"


def test_users_add_reads_the_password_from_stdin(hymy, make_unit, client):
    unit = make_unit("Vastaanotto", area="Etelä")
    result = hymy("users", "add", "Maija@Example.org", "--role", "manager", "--scope", unit.code,
                  "--scope", "Etelä", "--name", "Maija", input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert last_line(result) == "maija@example.org"
    assert PASSWORD not in result.output
    user = db.session.execute(db.select(User)).scalar_one()
    assert (user.role, user.name, [u.code for u in user.units], [a.name for a in user.areas]) == (
        "manager", "Maija", [unit.code], ["Etelä"])
    signed_in = client.post("/login", data={"email": "maija@example.org", "password": PASSWORD})
    assert signed_in.status_code == 302


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (["users", "add", "a@example.org", "--role", "manager"], "short\n", "at least 10 characters"),
        (["users", "add", "not-an-address", "--role", "admin"], PASSWORD + "\n", "not valid"),
        (["users", "add", "a@example.org", "--role", "manager", "--scope", "Atlantis"], PASSWORD + "\n",
         "'Atlantis' is neither a unit code nor an area"),
        (["users", "add", "a@example.org", "--role", "emperor"], PASSWORD + "\n", "emperor"),
    ],
)
def test_users_add_refuses_bad_input_and_stores_nothing(hymy, args, password, message):
    result = hymy(*args, input=password)
    assert result.exit_code != 0
    assert message in result.output
    assert db.session.execute(db.select(db.func.count()).select_from(User)).scalar_one() == 0


def test_users_add_refuses_a_second_account_with_the_same_address(hymy):
    assert hymy("users", "add", "a@example.org", "--role", "admin", input=PASSWORD + "\n").exit_code == 0
    again = hymy("users", "add", "A@example.org", "--role", "staff", input=PASSWORD + "\n")
    assert again.exit_code != 0
    assert "exists already" in again.output


def test_export_responses_writes_the_interchange_csv_to_stdout(hymy, make_unit):
    unit = make_unit("Vastaanotto")
    answer = add_answer(unit, score=4, reason="waiting_time", comment="Kiitos", lang="fi")
    result = hymy("export", "responses")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert list(rows[0])[:10] == ["id", "unit", "channel", "score", "scale", "reason", "comment", "segment", "lang", "answered_at"]
    assert rows == [{
        "id": answer.id, "unit": unit.code, "channel": "kiosk", "score": "4", "scale": "smiley5",
        "reason": "waiting_time", "comment": "Kiitos", "segment": "", "lang": "fi",
        "answered_at": "2026-01-15T10:00:00Z", "flags": "", "kind": "",
    }]


def test_export_tally_writes_one_row_per_unit_and_period(hymy, make_unit, tmp_path):
    unit = make_unit("Vastaanotto", area="Etelä")
    for score in (5, 5, 4, 1, 3):
        add_answer(unit, score=score, at="2026-01-15T10:00:00+00:00")
    add_answer(unit, score=5, at="2026-02-02T10:00:00+00:00")
    out = tmp_path / "tally.csv"
    result = hymy("export", "tally", "--area", "Etelä", "--bucket", "month", "-o", out)
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(r["unit"], r["period"], r["answers"], r["pct_positive"], r["index"]) for r in rows] == [
        (unit.code, "2026-01", "5", "60.0", "65.0"),
        (unit.code, "2026-02", "1", "", ""),
    ]


def test_export_writes_xlsx_to_a_file(hymy, make_unit, tmp_path):
    unit = make_unit("Vastaanotto")
    add_answer(unit, score=2)
    out = tmp_path / "answers.xlsx"
    result = hymy("export", "responses", "--format", "xlsx", "-o", out)
    assert result.exit_code == 0, result.output
    sheet = load_workbook(out).active
    assert [c.value for c in sheet[1]][:4] == ["id", "unit", "channel", "score"]
    assert sheet.cell(2, 2).value == unit.code


def test_import_prints_the_number_of_rows_stored_last(hymy, make_unit, tmp_path):
    unit = make_unit("Vastaanotto")
    path = tmp_path / "in.csv"
    path.write_text(
        "id,unit,channel,score,scale,reason,comment,segment,lang,answered_at\r\n"
        f"{new_id()},{unit.code},kiosk,5,smiley5,,,,fi,2026-01-15T10:00:00Z\r\n"
        f"{new_id()},{unit.code},letter,,smiley5,,Kirje,,,2026-01-16T10:00:00Z\r\n",
        encoding="utf-8",
    )
    result = hymy("import", path)
    assert result.exit_code == 0, result.output
    assert last_line(result) == "2"


def test_import_names_the_bad_line_and_field(hymy, make_unit, tmp_path):
    unit = make_unit("Vastaanotto")
    path = tmp_path / "in.csv"
    path.write_text(
        "id,unit,channel,score,scale,reason,comment,segment,lang,answered_at\n"
        f"{new_id()},{unit.code},kiosk,9,smiley5,,,,fi,2026-01-15T10:00:00Z\n",
        encoding="utf-8",
    )
    result = hymy("import", path)
    assert result.exit_code != 0
    assert "line 2" in result.output
    assert "field score" in result.output
    assert "nothing was stored" in result.output


def test_demo_reports_whether_it_created_anything(hymy):
    assert last_line(hymy("demo")) == "Demo organisation created."
    assert last_line(hymy("demo")) == "Demo organisation exists already."


def test_serve_hands_the_app_to_waitress(hymy, monkeypatch, app):
    calls = []
    monkeypatch.setattr(cli.waitress, "serve", lambda wsgi, **kw: calls.append((wsgi, kw)))
    result = hymy("serve", "--host", "0.0.0.0", "--port", "9000", "--threads", "4")
    assert result.exit_code == 0, result.output
    assert "http://0.0.0.0:9000" in result.output
    assert calls == [(app, {"host": "0.0.0.0", "port": 9000, "threads": 4, "ident": "hymy"})]


def test_long_work_shows_progress_only_to_a_person_at_a_terminal(monkeypatch, capsys):
    items = list(range(5))
    assert list(cli.with_progress(iter(items), 5, "Working")) == items
    assert capsys.readouterr().err == ""  # under pytest stderr is no terminal: no bar
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert list(cli.with_progress(iter(items), 5, "Working")) == items
    assert "Working" in capsys.readouterr().err
