"""Alerts in the manager's view: listed on the unit page and /manage/, acknowledged with a comment."""

import re

import pytest

from server.insight_models import Alert
from server.models import db
from tests.conftest import new_id


@pytest.fixture(autouse=True)
def english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def unit(make_unit):
    return make_unit("Vastaanotto", area="Etelä")


def burst(client, unit, scores=(1, 2, 1, 1)):
    """Send answers to the API as clients' phones do: the fourth one fires the default rule."""
    for score in scores:
        assert client.post("/api/v1/responses", json={"id": new_id(), "unit": unit.code, "score": score}).status_code == 201


def alerts_section(html):
    start = html.index('id="alerts"')
    return html[start:html.index("</section>", start)]


def the_alert():
    return db.session.execute(db.select(Alert)).scalar_one()


def test_four_negative_answers_raise_an_alert_on_the_unit_page_and_the_home_page(client, login_as, unit):
    login_as("manager", [unit.code])
    burst(client, unit)
    section = alerts_section(client.get(f"/manage/units/{unit.code}").get_data(as_text=True))
    assert "4 of 4 answers were negative" in section
    assert re.search(r"between \d+/\d+/\d+, .+ and \d", section)  # the window, in local time
    assert f'action="/manage/units/{unit.code}/alerts/{the_alert().id}/ack"' in section
    home = client.get("/manage/").get_data(as_text=True)
    assert re.search(rf'href="/manage/units/{unit.code}#alerts">1 open alert</a>', home)


def test_three_answers_raise_no_alert(client, login_as, unit):
    login_as("manager", [unit.code])
    burst(client, unit, (1, 1, 1))
    assert "No open alerts." in alerts_section(client.get(f"/manage/units/{unit.code}").get_data(as_text=True))
    assert "open alert" not in client.get("/manage/").get_data(as_text=True)


def test_acknowledging_with_a_comment_removes_the_alert_and_keeps_the_comment(client, login_as, unit):
    manager = login_as("manager", [unit.code])
    burst(client, unit)
    alert_id = the_alert().id
    response = client.post(f"/manage/units/{unit.code}/alerts/{alert_id}/ack",
                           data={"comment": "The queue system was down; fixed at 9:10."})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/manage/units/{unit.code}#alerts")
    section = alerts_section(client.get(f"/manage/units/{unit.code}").get_data(as_text=True))
    assert "No open alerts." in section and "/ack" not in section
    assert "The queue system was down; fixed at 9:10." in section  # under "Recently acknowledged"
    alert = db.session.get(Alert, alert_id)
    db.session.refresh(alert)
    assert alert.comment == "The queue system was down; fixed at 9:10."
    assert alert.acknowledged_by_id == manager.id
    assert "open alert" not in client.get("/manage/").get_data(as_text=True)


def test_an_alert_is_not_acknowledged_without_a_comment(client, login_as, unit):
    login_as("manager", [unit.code])
    burst(client, unit)
    response = client.post(f"/manage/units/{unit.code}/alerts/{the_alert().id}/ack", data={"comment": "   "},
                           follow_redirects=True)
    assert "Write what was done about the alert" in response.get_data(as_text=True)
    assert the_alert().acknowledged_at is None


@pytest.mark.parametrize(("persona", "expected"), [
    ("staff of the unit", 403), ("manager of another unit", 404), ("director of another area", 404),
    ("anonymous", 302),
])
def test_only_those_responsible_for_the_unit_acknowledge(client, login_as, unit, make_unit, persona, expected):
    other = make_unit("Hammashoitola", area="Pohjoinen")
    burst(client, unit)
    scopes = {"staff of the unit": ("staff", [unit.code]), "manager of another unit": ("manager", [other.code]),
              "director of another area": ("director", ["Pohjoinen"])}
    if persona in scopes:
        login_as(*scopes[persona])
    response = client.post(f"/manage/units/{unit.code}/alerts/{the_alert().id}/ack", data={"comment": "Seen."})
    assert response.status_code == expected
    assert the_alert().acknowledged_at is None


def test_a_director_of_the_area_acknowledges(client, login_as, unit):
    login_as("director", ["Etelä"])
    burst(client, unit)
    assert client.post(f"/manage/units/{unit.code}/alerts/{the_alert().id}/ack",
                       data={"comment": "Called the unit."}).status_code == 302
    assert the_alert().acknowledged_at is not None


def test_an_alert_of_another_unit_cannot_be_acknowledged_through_this_one(client, login_as, unit, make_unit):
    other = make_unit("Hammashoitola", area="Etelä")
    login_as("director", ["Etelä"])
    burst(client, other)
    response = client.post(f"/manage/units/{unit.code}/alerts/{the_alert().id}/ack", data={"comment": "Seen."})
    assert response.status_code == 404
    assert the_alert().acknowledged_at is None


def test_acknowledging_needs_a_csrf_token(client, login_as, unit, app):
    login_as("manager", [unit.code])
    burst(client, unit)
    app.config["WTF_CSRF_ENABLED"] = True
    url = f"/manage/units/{unit.code}/alerts/{the_alert().id}/ack"
    assert client.post(url, data={"comment": "Seen."}).status_code == 400
    assert the_alert().acknowledged_at is None
    html = client.get(f"/manage/units/{unit.code}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', alerts_section(html)).group(1)
    assert client.post(url, data={"comment": "Seen.", "csrf_token": token}).status_code == 302
    assert the_alert().acknowledged_at is not None

