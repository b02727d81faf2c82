"""The weekly digest: `hymy digest --json` and the printable page for the team meeting."""

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from server import insight
from server.models import Response, db

WEEK = "2026-W40"
MONDAY = date(2026, 9, 28)


def add_answers(unit, monday, positive, negative, neutral=0, reason=None, comment=None, **fields):
    """Store answers spread over the week that starts on the Monday, at 10:00 UTC."""
    scores = [5] * positive + [1] * negative + [3] * neutral
    for i, score in enumerate(scores):
        at = datetime.combine(monday + timedelta(days=i % 5), datetime.min.time(), tzinfo=UTC)
        db.session.add(Response(
            id=str(uuid.uuid4()), unit_id=unit.id, channel="kiosk", score=score, scale=unit.scale,
            reason=reason if score == 1 else None, comment=comment if score == 5 else None,
            answered_at=at + timedelta(hours=10, minutes=i), **fields,
        ))
    db.session.commit()


def add_history(unit, positive=48, negative=6, neutral=6, weeks=8):
    for w in range(1, weeks + 1):
        add_answers(unit, MONDAY - timedelta(weeks=w), positive, negative, neutral)


def digest_json(runner, *args):
    result = runner.invoke(args=["digest", *args, "--week", WEEK, "--json", "--lang", "en"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture
def slipping_unit(make_unit):
    """A unit at 80 % positive for eight weeks that fell to 40 % in week 40."""
    unit = make_unit("Health centre", area="North")
    add_history(unit)
    add_answers(unit, MONDAY, positive=24, negative=30, neutral=6, reason="waiting_time")
    return unit


def test_it_prints_the_contract_json_with_the_change_worth_attention(runner, slipping_unit):
    data = digest_json(runner, "--unit", slipping_unit.code)
    assert data["week"] == WEEK
    [entry] = data["units"]
    assert entry["unit"] == slipping_unit.code and entry["answers"] == 60
    assert entry["notable"], "a fall from 80 % to 40 % positive must be reported"
    for change in entry["notable"]:
        assert set(change) >= {"direction", "reason", "text"}
        assert change["direction"] in ("better", "worse")
    first = entry["notable"][0]
    assert first["direction"] == "worse"
    texts = " ".join(c["text"] for c in entry["notable"])
    assert "40 % of answers were positive this week, down from 80 %." in texts
    assert any(c["reason"] == "waiting_time" for c in entry["notable"])
    assert entry["figures"]["pct_positive"] == 40.0
    assert entry["figures"]["pct_positive_low"] < 40 < entry["figures"]["pct_positive_high"]


def test_it_says_nothing_when_nothing_changed(runner, make_unit):
    unit = make_unit("Steady")
    add_history(unit)
    add_answers(unit, MONDAY, positive=48, negative=6, neutral=6)
    [entry] = digest_json(runner, "--unit", unit.code)["units"]
    assert entry["answers"] == 60 and entry["notable"] == []


def test_it_takes_an_area_by_name_or_code(runner, slipping_unit, make_unit):
    other = make_unit("Dental clinic", area="North")
    make_unit("Elsewhere", area="South")
    by_name = digest_json(runner, "--area", "North")
    by_code = digest_json(runner, "--area", slipping_unit.area.code)
    assert [u["unit"] for u in by_name["units"]] == [slipping_unit.code, other.code]
    assert by_code["units"] == by_name["units"]


def test_a_week_with_fewer_than_5_answers_says_so_and_has_no_figures(runner, make_unit):
    unit = make_unit("Quiet")
    add_answers(unit, MONDAY, positive=3, negative=1)
    [entry] = digest_json(runner, "--unit", unit.code)["units"]
    assert entry["answers"] == 4 and entry["figures"] is None and entry["notable"] == []
    assert any("Fewer than 5 answers" in note for note in entry["notes"])
    text = runner.invoke(args=["digest", "--unit", unit.code, "--week", WEEK, "--lang", "en"]).output
    assert "Fewer than 5 answers" in text and "%" not in text.split("Quiet")[1].split("Fewer")[0]


def test_a_silent_week_is_read_as_a_possibly_silent_kiosk(runner, make_unit):
    unit = make_unit("Silent")
    add_history(unit)
    add_answers(unit, MONDAY, positive=2, negative=0)
    [entry] = digest_json(runner, "--unit", unit.code)["units"]
    assert [c["direction"] for c in entry["notable"]] == ["worse"]
    assert "is the kiosk working?" in entry["notable"][0]["text"]
    # The history has answers Monday to Friday; this week only Monday and Tuesday had any.
    assert "Days without answers: Wednesday 30.9.2026, Thursday 1.10.2026, Friday 2.10.2026" in entry["notes"]


def test_it_leaves_repeated_presses_out_and_says_how_many(runner, make_unit):
    unit = make_unit("Repeats")
    add_answers(unit, MONDAY, positive=6, negative=0)
    add_answers(unit, MONDAY, positive=0, negative=5, flags="repeat")
    [entry] = digest_json(runner, "--unit", unit.code)["units"]
    assert entry["answers"] == 6 and entry["figures"]["pct_negative"] == 0.0
    assert "5 repeated presses were left out of the figures." in entry["notes"]


def test_the_default_week_is_the_last_complete_one(runner, make_unit):
    unit = make_unit("Default")
    result = runner.invoke(args=["digest", "--unit", unit.code, "--json"])
    expected = insight.week_name(insight.last_complete_week("Europe/Helsinki"))
    assert json.loads(result.output)["week"] == expected


@pytest.mark.parametrize("args", [
    ["--unit", "nosuchunit"], ["--area", "Nowhere"], [], ["--unit", "x", "--area", "y"],
])
def test_it_refuses_a_selection_that_names_nothing(runner, make_unit, args):
    make_unit("Some unit")
    result = runner.invoke(args=["digest", *args, "--week", WEEK])
    assert result.exit_code != 0


def test_it_refuses_a_malformed_week(runner, make_unit):
    unit = make_unit("Weeks")
    result = runner.invoke(args=["digest", "--unit", unit.code, "--week", "2026-40"])
    assert result.exit_code != 0 and "2026-W40" in result.output


# --- The printable page --------------------------------------------------------------------


def test_the_printable_page_shows_figures_changes_praise_and_never_who_logged_it(
        client, login_as, make_user, slipping_unit):
    staff = make_user("staff", [slipping_unit.code])
    staff.name = "Salla Sanoja"
    db.session.add(Response(
        id=str(uuid.uuid4()), unit_id=slipping_unit.id, channel="spoken", kind="praise", user_id=staff.id,
        comment="A relative thanked us for the calm discharge", scale="smiley5",
        answered_at=datetime(2026, 9, 30, 12, tzinfo=UTC),
    ))
    add_answers(slipping_unit, MONDAY, positive=1, negative=0, comment="The nurse listened to me")
    login_as("manager", [slipping_unit.code])
    page = client.get(f"/manage/units/{slipping_unit.code}/digest?week={WEEK}&lang=en").get_data(as_text=True)
    assert "Weekly digest" in page and "Week 2026-W40" in page
    assert "95 % interval" in page
    assert "of answers were positive this week, down from 80 %" in page
    assert "The nurse listened to me" in page and "A relative thanked us for the calm discharge" in page
    assert "Praise logged by staff: 1" in page
    assert "Salla" not in page and staff.email not in page
    assert "insight.css" in page and "style=" not in page and "<script>" not in page


def test_the_printable_page_says_fewer_than_5_answers(client, login_as, make_unit):
    unit = make_unit("Few")
    add_answers(unit, MONDAY, positive=2, negative=1)
    login_as("manager", [unit.code])
    page = client.get(f"/manage/units/{unit.code}/digest?week={WEEK}&lang=en").get_data(as_text=True)
    assert "fewer than 5 answers" in page and "95 % interval" not in page


def test_the_area_page_shows_each_unit_of_the_area(client, login_as, slipping_unit, make_unit):
    other = make_unit("Dental clinic", area="North")
    login_as("director", [slipping_unit.area.code])
    response = client.get(f"/manage/areas/{slipping_unit.area.code}/digest?week={WEEK}&lang=en")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Health centre" in page and other.name in page


@pytest.mark.parametrize("role, scoped, status", [
    ("manager", False, 404), ("staff", True, 403), ("director", True, 200), ("admin", False, 200),
])
def test_only_people_responsible_for_the_unit_see_its_digest(client, login_as, make_unit, role, scoped, status):
    unit = make_unit("Private")
    login_as(role, [unit.code] if scoped else [])
    assert client.get(f"/manage/units/{unit.code}/digest?week={WEEK}").status_code == status


def test_the_digest_page_needs_a_sign_in_and_a_well_formed_week(client, login_as, make_unit):
    unit = make_unit("Guarded")
    assert client.get(f"/manage/units/{unit.code}/digest").status_code == 302
    login_as("manager", [unit.code])
    assert client.get(f"/manage/units/{unit.code}/digest?week=soon").status_code == 400
