"""The area view: a director sees the units of their area side by side, what needs attention first."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from server import insight
from server.models import Area, Response, db
from tests.conftest import new_id


@pytest.fixture(autouse=True)
def english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


def add(unit, at, scores):
    for score in scores:
        db.session.add(Response(id=new_id(), unit_id=unit.id, channel="kiosk", score=score, scale=unit.scale,
                                answered_at=at, received_at=at, flags=""))
    db.session.commit()


@pytest.fixture
def area(make_unit, app):
    """Four units of Etelä, planted around the last complete week (which the default period covers).

    worsening: 90 % positive for three weeks, then 40 %: a significant change for the worse.
    steady_bad: 40 % negative every week (no change), steady_good: 10 % negative, quiet: 3 answers.
    """
    monday = insight.last_complete_week(app.config["HYMY_TIMEZONE"])
    noon = datetime.combine(monday, datetime.min.time(), tzinfo=UTC) + timedelta(hours=10)
    units = {name: make_unit(name, area="Etelä") for name in ("steady_good", "worsening", "steady_bad", "quiet")}
    for weeks_before in (1, 2):
        add(units["worsening"], noon - timedelta(weeks=weeks_before), [5] * 18 + [1] * 2)
        add(units["steady_bad"], noon - timedelta(weeks=weeks_before), [5] * 12 + [1] * 8)
        add(units["steady_good"], noon - timedelta(weeks=weeks_before), [5] * 9 + [1])
    add(units["worsening"], noon, [5] * 8 + [1] * 12)
    add(units["steady_bad"], noon, [5] * 12 + [1] * 8)
    add(units["steady_good"], noon, [5] * 9 + [1])
    add(units["quiet"], noon, [5, 1, 1])
    units["other"] = make_unit("Pohjoinen asema", area="Pohjoinen")
    return units


def _area(name):
    return db.session.execute(db.select(Area).where(Area.name == name)).scalar_one()


def test_a_director_sees_their_area_but_not_another(client, login_as, area):
    login_as("director", ["Etelä"])
    html = client.get(f"/manage/areas/{_area('Etelä').code}").get_data(as_text=True)
    assert "<h1>Etelä</h1>" in html
    assert "worsening" in html and "Pohjoinen asema" not in html
    assert client.get(f"/manage/areas/{_area('Pohjoinen').code}").status_code == 404
    home = client.get("/manage/").get_data(as_text=True)
    assert f'href="/manage/areas/{_area("Etelä").code}"' in home
    assert f'href="/manage/areas/{_area("Pohjoinen").code}"' not in home


@pytest.mark.parametrize(("persona", "expected"), [
    ("manager of a unit of the area", 404), ("staff of the area", 403), ("admin", 200),
    ("director of the area", 200), ("anonymous", 302), ("director of another area", 404),
])
def test_only_those_who_oversee_the_area_open_it(client, login_as, area, persona, expected):
    scopes = {
        "manager of a unit of the area": ("manager", [area["worsening"].code]),
        "staff of the area": ("staff", ["Etelä"]),
        "admin": ("admin", []),
        "director of the area": ("director", ["Etelä"]),
        "director of another area": ("director", ["Pohjoinen"]),
    }
    if persona in scopes:
        login_as(*scopes[persona])
    code = _area("Etelä").code
    for path in (f"/manage/areas/{code}", f"/manage/areas/{code}/export.csv", f"/manage/areas/{code}/fft.csv"):
        assert client.get(path).status_code == expected, path


def test_an_unknown_area_is_a_404(client, login_as):
    login_as("admin")
    assert client.get("/manage/areas/nosuchcode").status_code == 404


def ranked_units(html):
    table = html[html.index('class="data area-units"'):]
    table = table[:table.index("</table>")]
    return re.findall(r'<tr data-unit="([^"]+)"', table)


def test_a_unit_with_a_significant_worsening_comes_first(client, login_as, area):
    login_as("director", ["Etelä"])
    html = client.get(f"/manage/areas/{_area('Etelä').code}").get_data(as_text=True)
    codes = {unit.code: name for name, unit in area.items()}
    assert [codes[c] for c in ranked_units(html)] == ["worsening", "steady_bad", "steady_good"]
    row = html[html.index(f'<tr data-unit="{area["worsening"].code}"'):]
    row = row[:row.index("</tr>")]
    assert "1 change for the worse" in row
    assert 'class="interval interval-negative"' in row


def test_units_with_fewer_than_5_answers_are_shown_but_not_ranked(client, login_as, area):
    login_as("director", ["Etelä"])
    html = client.get(f"/manage/areas/{_area('Etelä').code}").get_data(as_text=True)
    assert area["quiet"].code not in ranked_units(html)
    few = html[html.index('class="few-units"'):]
    few = few[:few.index("</ul>")]
    assert f'data-unit="{area["quiet"].code}"' in few
    assert "fewer than 5 answers" in few and "(3)" in few


def test_each_unit_has_a_small_weekly_trend_with_numbers_in_words(client, login_as, area):
    login_as("director", ["Etelä"])
    html = client.get(f"/manage/areas/{_area('Etelä').code}").get_data(as_text=True)
    multiples = html[html.index('class="small-multiples"'):]
    multiples = multiples[:multiples.index("</ul>")]
    assert multiples.count('<svg class="sparkline"') == 4
    assert re.search(r'aria-label="% positive per week: [^"]*90 %, 40 %', multiples)
    assert 'data-table="weeks"' in html


def test_the_period_filter_applies_to_every_unit(client, login_as, area, app):
    login_as("director", ["Etelä"])
    monday = insight.last_complete_week(app.config["HYMY_TIMEZONE"])
    html = client.get(f"/manage/areas/{_area('Etelä').code}?from={monday}&to={monday}").get_data(as_text=True)
    row = html[html.index(f'<tr data-unit="{area["worsening"].code}"'):]
    assert re.search(r'<td class="num">20</td>', row[:row.index("</tr>")])
    assert client.get(f"/manage/areas/{_area('Etelä').code}?from=nonsense").status_code == 400


def test_the_area_tally_download_covers_every_unit_of_the_area(client, login_as, area):
    login_as("director", ["Etelä"])
    response = client.get(f"/manage/areas/{_area('Etelä').code}/export.csv?bucket=month")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    units = {line.split(",")[0] for line in body.splitlines()[1:]}
    assert units == {area[name].code for name in ("steady_good", "worsening", "steady_bad", "quiet")}
