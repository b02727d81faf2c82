"""The NHS Friends and Family Test-style monthly summary: hand-counted, suppressed under 5, CSV and XLSX."""

import csv
import io
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from server import stats
from server.models import Area, Response, db
from tests.conftest import new_id

HEADER = ["unit", "period", "very_good", "good", "neither", "poor", "very_poor", "dont_know", "answers",
          "pct_positive", "pct_negative"]


@pytest.fixture(autouse=True)
def english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


def add(unit, at, scores, flags=""):
    for score in scores:
        db.session.add(Response(id=new_id(), unit_id=unit.id, channel="kiosk", score=score, scale=unit.scale,
                                answered_at=at, received_at=at, flags=flags))
    db.session.commit()


@pytest.fixture
def unit(make_unit):
    """January 2026: 5, 5, 4, 3, 2, 1, 1 and a repeat press; February: three answers, one given late on 31 January UTC."""
    unit = make_unit("Vastaanotto", area="Etelä")
    add(unit, datetime(2026, 1, 12, 9, tzinfo=UTC), [5, 5, 4, 3, 2, 1, 1])
    add(unit, datetime(2026, 1, 12, 9, tzinfo=UTC), [1], flags="repeat")
    add(unit, datetime(2026, 1, 31, 23, 30, tzinfo=UTC), [5])  # 1 February 01:30 in Helsinki
    add(unit, datetime(2026, 2, 10, 9, tzinfo=UTC), [4, 2])
    return unit


# By hand: January has 7 counted answers; positive = very good + good = 3 → 42.9 %; negative = poor + very
# poor = 3 → 42.9 %. February has 3 answers: fewer than 5, so only its answer count is given.
JANUARY = ["2", "1", "1", "1", "2", "", "7", "42.9", "42.9"]
FEBRUARY = ["", "", "", "", "", "", "3", "", ""]


def test_the_csv_summary_matches_a_hand_count(client, login_as, unit):
    login_as("manager", [unit.code])
    response = client.get(f"/manage/units/{unit.code}/fft.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert 'filename="hymy-' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows == [HEADER, [unit.code, "2026-01", *JANUARY], [unit.code, "2026-02", *FEBRUARY]]


def test_the_xlsx_summary_reads_back_the_same(client, login_as, unit):
    login_as("manager", [unit.code])
    response = client.get(f"/manage/units/{unit.code}/fft.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data), read_only=True).active
    # A spreadsheet row ends at its last filled cell: pad it to the header's width.
    rows = [list(row) + [None] * (len(HEADER) - len(row)) for row in sheet.iter_rows(values_only=True)]
    assert rows[0] == HEADER
    assert rows[1] == [unit.code, "2026-01", 2, 1, 1, 1, 2, None, 7, 42.9, 42.9]
    assert rows[2] == [unit.code, "2026-02", None, None, None, None, None, None, 3, None, None]


def test_the_summary_honours_the_dates(client, login_as, unit):
    login_as("manager", [unit.code])
    body = client.get(f"/manage/units/{unit.code}/fft.csv?from=2026-02-01&to=2026-02-28").get_data(as_text=True)
    assert [row[1] for row in csv.reader(io.StringIO(body))][1:] == ["2026-02"]
    assert client.get(f"/manage/units/{unit.code}/fft.csv?from=2026-03-01&to=2026-02-01").status_code == 400


def test_the_fft_formula_counts_every_answer_in_the_denominator():
    # 80 very good, 10 good, 5 neither, 3 poor, 2 very poor: 90 % positive, 5 % negative.
    tally = stats.Tally()
    for score, n in ((5, 80), (4, 10), (3, 5), (2, 3), (1, 2)):
        tally.add("smiley5", score, n)
    row = stats.fft_row("u", "2026-01", tally)
    assert (row["answers"], row["pct_positive"], row["pct_negative"]) == (100, 90.0, 5.0)
    assert (row["very_good"], row["very_poor"], row["dont_know"]) == (80, 2, None)


def test_a_unit_on_another_scale_is_told_why_there_is_no_summary(client, login_as, make_unit):
    other = make_unit("Neuvola", scale="smiley4")
    login_as("manager", [other.code])
    html = client.get(f"/manage/units/{other.code}").get_data(as_text=True)
    assert "The FFT summary needs the five-point scale" in html
    assert f"/manage/units/{other.code}/fft.csv" not in html
    response = client.get(f"/manage/units/{other.code}/fft.csv")
    assert response.status_code == 400
    assert "five-point scale" in response.get_data(as_text=True)


def test_a_five_point_unit_links_its_summary(client, login_as, unit):
    login_as("manager", [unit.code])
    html = client.get(f"/manage/units/{unit.code}").get_data(as_text=True)
    assert f'href="/manage/units/{unit.code}/fft.csv"' in html
    assert f'href="/manage/units/{unit.code}/fft.xlsx"' in html


def test_the_area_summary_covers_its_five_point_units_only(client, login_as, unit, make_unit):
    four = make_unit("Neuvola", area="Etelä", scale="smiley4")
    add(four, datetime(2026, 1, 12, 9, tzinfo=UTC), [4, 4, 4, 3, 1])
    login_as("director", ["Etelä"])
    code = db.session.execute(db.select(Area).where(Area.name == "Etelä")).scalar_one().code
    rows = list(csv.DictReader(io.StringIO(client.get(f"/manage/areas/{code}/fft.csv").get_data(as_text=True))))
    assert {row["unit"] for row in rows} == {unit.code}
    html = client.get(f"/manage/areas/{code}").get_data(as_text=True)
    assert "units on another scale are left out" in html


def test_an_unknown_format_is_a_404(client, login_as, unit):
    login_as("manager", [unit.code])
    assert client.get(f"/manage/units/{unit.code}/fft.pdf").status_code == 404
