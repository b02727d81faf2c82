"""The silent-kiosk rule in opening hours, the alert settings page, `hymy alerts check` and the webhook."""

import json
import logging
import socket
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest

from server import alerts, config
from server.insight_models import Alert, AlertRule
from server.models import Device, Response, db, utcnow
from tests.conftest import new_id

HELSINKI = ZoneInfo("Europe/Helsinki")
OFFICE = {"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "16:00"}
ALL_MORNINGS = {"days": list(range(7)), "start": "00:00", "end": "12:00"}


def local(year, month, day, hour, minute=0):
    """A wall-clock moment in Helsinki, as the aware UTC datetime the database holds."""
    return datetime(year, month, day, hour, minute, tzinfo=HELSINKI).astimezone(UTC)


def hours(start, end, opening=OFFICE):
    return alerts.opening_hours_between(start, end, opening, "Europe/Helsinki")


# 2026-10-05 is a Monday; the clocks in Helsinki go back on Sunday 2026-10-25 and forward on Sunday 2026-03-29.

def test_a_weekend_counts_no_opening_hours():
    assert hours(local(2026, 10, 9, 15), local(2026, 10, 12, 9)) == 2  # Friday 15-16, Monday 8-9


def test_a_night_counts_no_opening_hours():
    assert hours(local(2026, 10, 5, 17), local(2026, 10, 6, 7, 59)) == 0


@pytest.mark.parametrize(("start", "end", "expected"), [
    (local(2026, 10, 5, 10, 30), local(2026, 10, 5, 12, 15), 1.75),
    (local(2026, 10, 5, 6), local(2026, 10, 5, 20), 8),
    (local(2026, 10, 5, 15), local(2026, 10, 6, 9, 30), 2.5),
    (local(2026, 10, 5, 12), local(2026, 10, 5, 12), 0),
    (local(2026, 10, 5, 12), local(2026, 10, 5, 9), 0),
])
def test_partial_days_count_the_opening_hours_inside_them(start, end, expected):
    assert hours(start, end) == pytest.approx(expected)


def test_the_spring_dst_change_makes_a_morning_an_hour_shorter():
    assert hours(local(2026, 3, 29, 0), local(2026, 3, 30, 0), ALL_MORNINGS) == 11
    assert hours(local(2026, 3, 27, 15), local(2026, 3, 30, 9)) == 2  # Friday in EET, Monday in EEST


def test_the_autumn_dst_change_makes_a_morning_an_hour_longer():
    assert hours(local(2026, 10, 25, 0), local(2026, 10, 26, 0), ALL_MORNINGS) == 13
    assert hours(local(2026, 10, 23, 15), local(2026, 10, 26, 9)) == 2  # Friday in EEST, Monday in EET


def enrol(unit, name="Reception tablet", at=None):
    device = Device(unit_id=unit.id, name=name, token_hash=uuid.uuid4().hex,
                    enrolled_at=at or local(2026, 10, 5, 7))
    db.session.add(device)
    db.session.commit()
    return device


def kiosk_answer(device, at, score=5):
    db.session.add(Response(id=new_id(), unit_id=device.unit_id, device_id=device.id, channel="kiosk",
                            score=score, scale="smiley5", answered_at=at))
    db.session.commit()


def silent_alerts(unit):
    return list(db.session.execute(
        db.select(Alert).where(Alert.unit_id == unit.id, Alert.device_id.is_not(None)).order_by(Alert.id)
    ).scalars())


def test_a_kiosk_silent_for_two_opening_hours_raises_one_alert(make_unit):
    unit = make_unit("Reception")
    device = enrol(unit)
    kiosk_answer(device, local(2026, 10, 5, 9))
    assert alerts.check_silent([unit], local(2026, 10, 5, 10, 59)) == []
    [alert] = alerts.check_silent([unit], local(2026, 10, 5, 11))
    assert (alert.device_id, alert.answers, alert.negative) == (device.id, 0, 0)
    assert (alert.window_start, alert.window_end) == (local(2026, 10, 5, 9), local(2026, 10, 5, 11))
    assert alerts.check_silent([unit], local(2026, 10, 5, 15)) == []  # one silence, one alert
    assert alerts.check_silent([unit], local(2026, 10, 7, 15)) == []


def test_a_kiosk_is_not_silent_at_night_or_on_a_weekend(make_unit):
    unit = make_unit("Reception")
    device = enrol(unit)
    kiosk_answer(device, local(2026, 10, 9, 15, 30))  # Friday afternoon
    for moment in (local(2026, 10, 9, 23), local(2026, 10, 10, 12), local(2026, 10, 11, 20), local(2026, 10, 12, 7, 59)):
        assert alerts.check_silent([unit], moment) == [], moment
    assert [a.device_id for a in alerts.check_silent([unit], local(2026, 10, 12, 9, 30))] == [device.id]


def test_a_kiosk_without_any_answer_is_silent_from_its_enrolment(make_unit):
    unit = make_unit("Reception")
    enrol(unit, at=local(2026, 10, 5, 12))
    assert alerts.check_silent([unit], local(2026, 10, 5, 13, 59)) == []
    [alert] = alerts.check_silent([unit], local(2026, 10, 5, 14))
    assert alert.window_start == local(2026, 10, 5, 12)


def test_the_kiosk_alerts_again_after_it_answers_and_falls_silent_again(make_unit):
    unit = make_unit("Reception")
    device = enrol(unit)
    kiosk_answer(device, local(2026, 10, 5, 8))
    assert len(alerts.check_silent([unit], local(2026, 10, 5, 10))) == 1
    kiosk_answer(device, local(2026, 10, 5, 12))
    assert alerts.check_silent([unit], local(2026, 10, 5, 13, 59)) == []
    [again] = alerts.check_silent([unit], local(2026, 10, 5, 14))
    assert again.window_start == local(2026, 10, 5, 12)
    assert len(silent_alerts(unit)) == 2


def test_an_acknowledged_silence_counts_again_from_the_acknowledgment(make_unit, make_user, monkeypatch):
    unit = make_unit("Reception")
    device = enrol(unit)
    kiosk_answer(device, local(2026, 10, 5, 8))
    [alert] = alerts.check_silent([unit], local(2026, 10, 5, 10))
    monkeypatch.setattr(alerts, "utcnow", lambda: local(2026, 10, 5, 11))
    alerts.acknowledge(alert, make_user("manager", [unit.code]), "Plugged the tablet back in.")
    assert alerts.check_silent([unit], local(2026, 10, 5, 12, 59)) == []
    [again] = alerts.check_silent([unit], local(2026, 10, 5, 13))
    assert again.window_start == local(2026, 10, 5, 8)  # still the same last answer


def test_revoked_and_unenrolled_tablets_and_a_switched_off_rule_raise_nothing(make_unit):
    unit = make_unit("Reception")
    revoked = enrol(unit, "Old tablet")
    revoked.revoked_at = local(2026, 10, 5, 7)
    db.session.add(Device(unit_id=unit.id, name="Never enrolled"))
    db.session.commit()
    assert alerts.check_silent([unit], local(2026, 10, 6, 12)) == []
    other = make_unit("Lab")
    enrol(other)
    alerts.rules_by_unit([other], "kiosk_silent")[other.id].active = False
    db.session.commit()
    assert alerts.check_silent([other], local(2026, 10, 6, 12)) == []


def test_a_silent_kiosk_shows_on_the_unit_page_with_its_name(client, login_as, make_unit):
    unit = make_unit("Reception")
    enrol(unit, "Lobby tablet", at=utcnow() - timedelta(days=10))
    login_as("manager", [unit.code])
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    html = client.get(f"/manage/units/{unit.code}").get_data(as_text=True)
    section = html[html.index('id="alerts"'):]
    section = section[:section.index("</section>")]
    assert "Lobby tablet: no answers since" in section
    home = client.get("/manage/").get_data(as_text=True)
    assert f'href="/manage/units/{unit.code}#alerts">1 open alert</a>' in home
    assert len(silent_alerts(unit)) == 1  # opening both pages raised it once


def test_hymy_alerts_check_prints_how_many_alerts_it_raised(runner, make_unit):
    unit = make_unit("Reception")
    enrol(unit, at=utcnow() - timedelta(days=10))
    enrol(make_unit("Lab"), "Lab tablet", at=utcnow() - timedelta(days=10))
    result = runner.invoke(args=["alerts", "check"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "2"
    assert runner.invoke(args=["alerts", "check"]).output.strip().splitlines()[-1] == "0"


# The settings page

@pytest.fixture
def english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


def settings(**changes):
    data = {"negative_active": "y", "threshold_pct": "60", "window_minutes": "30", "min_answers": "6",
            "silent_active": "y", "hours": "3", "days": ["0", "1", "2", "3", "4", "5"], "opens": "07:30",
            "closes": "18:00"}
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def rules(unit):
    return {rule.kind: rule for rule in db.session.execute(
        db.select(AlertRule).where(AlertRule.unit_id == unit.id)).scalars()}


def test_the_settings_page_saves_both_rules(client, login_as, make_unit, english):
    unit = make_unit("Reception")
    login_as("manager", [unit.code])
    page = client.get(f"/manage/units/{unit.code}/alerts").get_data(as_text=True)
    assert 'value="50"' in page and 'value="16:00"' in page  # the defaults
    response = client.post(f"/manage/units/{unit.code}/alerts", data=settings(negative_active=None))
    assert response.status_code == 302
    saved = rules(unit)
    db.session.refresh(saved["negative_share"])
    db.session.refresh(saved["kiosk_silent"])
    negative, silent = saved["negative_share"], saved["kiosk_silent"]
    assert (negative.active, negative.threshold_pct, negative.window_minutes, negative.min_answers) == (False, 60, 30, 6)
    assert (silent.active, silent.hours) == (True, 3)
    assert silent.opening == {"days": [0, 1, 2, 3, 4, 5], "start": "07:30", "end": "18:00"}
    assert "Changes saved." in client.get(response.headers["Location"]).get_data(as_text=True)


def test_the_unit_page_links_to_the_alert_settings(client, login_as, make_unit, english):
    unit = make_unit("Reception")
    login_as("manager", [unit.code])
    assert f'href="/manage/units/{unit.code}/alerts"' in client.get(f"/manage/units/{unit.code}").get_data(as_text=True)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("threshold_pct", "0", "share of negative answers"),
    ("threshold_pct", "101", "share of negative answers"),
    ("threshold_pct", "half", "share of negative answers"),
    ("window_minutes", "0", "time window in minutes"),
    ("min_answers", "", "minimum number of answers"),
    ("hours", "500", "opening hours without answers"),
    ("closes", "07:00", "closing time must be later"),
    ("opens", "noon", "time the unit opens"),
    ("days", None, "at least one day"),
])
def test_bad_settings_are_refused_with_a_message_at_the_field(client, login_as, make_unit, english, field, value,
                                                              message):
    unit = make_unit("Reception")
    login_as("manager", [unit.code])
    page = client.post(f"/manage/units/{unit.code}/alerts", data=settings(**{field: value})).get_data(as_text=True)
    error = page[page.index(f'id="{field}-error"'):]
    assert error[:error.index("</p>")].count(message) == 1
    saved = rules(unit)
    assert saved["negative_share"].threshold_pct == 50 and saved["kiosk_silent"].hours == 2  # nothing saved


@pytest.mark.parametrize(("persona", "expected"), [
    ("manager of the unit", 200), ("director of the area", 200), ("staff of the unit", 403),
    ("manager of another unit", 404), ("anonymous", 302),
])
def test_only_those_responsible_for_the_unit_reach_its_alert_settings(client, login_as, make_unit, persona, expected):
    unit = make_unit("Reception", area="South")
    other = make_unit("Lab", area="North")
    scopes = {"manager of the unit": ("manager", [unit.code]), "director of the area": ("director", ["South"]),
              "staff of the unit": ("staff", [unit.code]), "manager of another unit": ("manager", [other.code])}
    if persona in scopes:
        login_as(*scopes[persona])
    assert client.get(f"/manage/units/{unit.code}/alerts").status_code == expected
    response = client.post(f"/manage/units/{unit.code}/alerts", data=settings(threshold_pct="90"))
    assert response.status_code == (302 if expected == 200 else expected)
    negative = rules(unit).get("negative_share")
    assert (negative is not None and negative.threshold_pct == 90) is (expected == 200)


# The webhook

@pytest.fixture
def webhook(app):
    """A tiny HTTP server on 127.0.0.1 that records the JSON posted to it."""
    received = []
    arrived = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()
            arrived.set()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    app.config["HYMY_ALERT_WEBHOOK_URL"] = f"http://127.0.0.1:{server.server_port}/hook"
    yield received, arrived
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_new_alert_is_posted_to_the_webhook(app, client, make_unit, webhook):
    app.config["HYMY_DEFAULT_LANG"] = "en"  # the webhook speaks the deployment's default language
    received, arrived = webhook
    unit = make_unit("Reception")
    for score in (1, 1, 2, 1):
        assert client.post("/api/v1/responses", json={"id": new_id(), "unit": unit.code, "score": score}).status_code == 201
    assert arrived.wait(5)
    [payload] = received
    assert payload["unit"] == unit.code and payload["kind"] == "negative_share"
    assert "4 of 4 answers were negative" in payload["text"]
    assert datetime.fromisoformat(payload["fired_at"]).tzinfo is not None


def test_a_silent_kiosk_alert_names_the_tablet_in_the_webhook(make_unit, webhook):
    received, arrived = webhook
    unit = make_unit("Reception")
    enrol(unit, "Lobby tablet")
    alerts.check_silent([unit], local(2026, 10, 5, 10))
    assert arrived.wait(5)
    assert received[0]["kind"] == "kiosk_silent" and "Lobby tablet" in received[0]["text"]


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_failing_webhook_is_logged_and_breaks_nothing(app, client, make_unit, caplog):
    url = f"http://127.0.0.1:{closed_port()}/hook"
    with caplog.at_level(logging.WARNING, logger="server.alerts"):
        alerts.post_webhook(url, {"unit": "x", "kind": "negative_share", "fired_at": "", "text": ""})
    assert "alert webhook" in caplog.text
    app.config["HYMY_ALERT_WEBHOOK_URL"] = url
    unit = make_unit("Reception")
    for score in (1, 1, 2, 1):
        assert client.post("/api/v1/responses", json={"id": new_id(), "unit": unit.code, "score": score}).status_code == 201
    assert len(alerts.open_alerts(unit)) == 1


def test_the_webhook_address_is_read_from_the_environment(tmp_path):
    settings_ = config.from_environment(tmp_path, {"HYMY_ALERT_WEBHOOK_URL": "https://hooks.example.fi/hymy"})
    assert settings_["HYMY_ALERT_WEBHOOK_URL"] == "https://hooks.example.fi/hymy"
    assert config.from_environment(tmp_path, {})["HYMY_ALERT_WEBHOOK_URL"] == ""


def test_silent_kiosks_tells_each_tablets_last_answer_and_whether_it_is_silent(make_unit):
    unit = make_unit("Reception")
    quiet, busy = enrol(unit, "Quiet"), enrol(unit, "Busy")
    kiosk_answer(busy, local(2026, 10, 5, 10, 30))
    assert alerts.silent_kiosks(unit, local(2026, 10, 5, 11)) == [
        (quiet, local(2026, 10, 5, 7), True), (busy, local(2026, 10, 5, 10, 30), False)]
