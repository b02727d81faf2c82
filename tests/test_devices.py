"""Kiosk health as a manager sees it: heartbeats, silence, a queue that does not drain."""

from datetime import datetime, timedelta, timezone

import pytest

from server import org
from server.models import Device, db

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)
SILENT, QUEUE = timedelta(minutes=15), timedelta(minutes=30)


@pytest.fixture
def kiosk(client, make_unit):
    unit = make_unit("Vastaanotto")
    _device, link = org.add_device(unit, "Aula")
    token = client.post("/api/v1/devices/enrol", json={"code": link.split("enrol=")[1]}).get_json()["token"]
    return db.session.execute(db.select(Device)).scalar_one(), token


def heartbeat(client, token, **body):
    return client.post("/api/v1/devices/heartbeat", json=body, headers={"Authorization": f"Bearer {token}"})


def test_a_heartbeat_records_version_queue_and_last_send(client, kiosk):
    device, token = kiosk
    sent = "2026-11-29T08:00:00Z"
    response = heartbeat(client, token, app_version="1.2.0", queued=3, oldest_queued_at="2026-11-29T07:30:00Z",
                         last_sent_at=sent)
    assert response.status_code == 200
    db.session.refresh(device)
    assert (device.app_version, device.queued_count) == ("1.2.0", 3)
    assert device.oldest_queued_at == datetime(2026, 11, 29, 7, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize("body, field", [
    ({"queued": -1}, "queued"), ({"queued": "3"}, "queued"), ({"queued": True}, "queued"),
    ({"app_version": "x" * 41}, "app_version"), ({"oldest_queued_at": "soon"}, "oldest_queued_at"),
    ({"last_error": 5}, "last_error"),
])
def test_a_bad_heartbeat_names_the_field(client, kiosk, body, field):
    response = heartbeat(client, kiosk[1], **body)
    assert response.status_code == 422
    assert response.get_json()["field"] == field


def test_a_heartbeat_needs_the_token(client, kiosk):
    response = client.post("/api/v1/devices/heartbeat", json={"queued": 0})
    assert response.status_code == 401


def test_a_kiosk_heard_from_recently_with_an_empty_queue_is_healthy(kiosk):
    device, _token = kiosk
    device.last_seen_at, device.queued_count = NOW - timedelta(minutes=2), 0
    assert device.warnings(SILENT, QUEUE, NOW) == []


def test_a_kiosk_that_went_quiet_is_silent(kiosk):
    device, _token = kiosk
    device.last_seen_at = NOW - timedelta(minutes=16)
    assert device.warnings(SILENT, QUEUE, NOW) == ["silent"]


def test_answers_waiting_too_long_on_a_kiosk_are_flagged(kiosk):
    device, _token = kiosk
    device.last_seen_at = NOW - timedelta(minutes=1)
    device.queued_count, device.oldest_queued_at = 12, NOW - timedelta(minutes=45)
    assert device.warnings(SILENT, QUEUE, NOW) == ["queue"]
    device.oldest_queued_at = NOW - timedelta(minutes=10)
    assert device.warnings(SILENT, QUEUE, NOW) == []


def test_a_revoked_kiosk_raises_no_warnings(kiosk):
    device, _token = kiosk
    device.revoked_at, device.last_seen_at = NOW - timedelta(days=3), NOW - timedelta(days=3)
    assert device.warnings(SILENT, QUEUE, NOW) == []


def test_the_unit_page_warns_about_a_silent_kiosk(client, kiosk, login_as):
    device, _token = kiosk
    device.last_seen_at = datetime.now(timezone.utc) - timedelta(hours=3)
    db.session.commit()
    login_as("manager", scope=[device.unit.code])
    page = client.get(f"/manage/units/{device.unit.code}?lang=en").get_data(as_text=True)
    assert 'data-warning="silent"' in page
    assert "not heard from for a while" in page


def test_the_unit_page_shows_no_warning_for_a_healthy_kiosk(client, kiosk, login_as):
    device, token = kiosk
    heartbeat(client, token, queued=0)
    login_as("manager", scope=[device.unit.code])
    page = client.get(f"/manage/units/{device.unit.code}?lang=en").get_data(as_text=True)
    assert "data-warning" not in page
