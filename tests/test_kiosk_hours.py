"""Kiosk offline hours: the digest names the opening hours in which an enrolled tablet was not heard from."""

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server import alerts, kiosk_hours, ops, org
from server.digest import week_window
from server.models import Device, DeviceContact, db

HELSINKI = ZoneInfo("Europe/Helsinki")
MONDAY = date(2026, 9, 28)  # 2026-W40, summer time: the default 08–16 opening is 05–13 UTC
WEEK = "2026-W40"


def local(day, hour, minute=0, second=0):
    """Return a Helsinki wall-clock moment on the week's day (0 = Monday) as aware UTC."""
    return datetime.combine(MONDAY + timedelta(days=day), datetime.min.time(), HELSINKI).replace(
        hour=hour, minute=minute, second=second).astimezone(UTC)


def enrolled(unit, name="Reception", at=None):
    """Add a tablet enrolled at the moment (default: long before the week), with contact history begun then."""
    device, _link = org.add_device(unit, name)
    device.token_hash = f"token-{device.id}"
    device.enrolled_at = at or local(-30, 9)
    device.mark_seen(device.enrolled_at)
    db.session.commit()
    return device


def seen_in_opening_hours(device, days=range(5), skip=()):
    """Let the tablet call every opening hour (08–16 local) of the given days, except the (day, hour) pairs."""
    for day in days:
        for hour in range(8, 16):
            if (day, hour) not in skip:
                device.mark_seen(local(day, hour, 20))
    db.session.commit()


def offline(units, monday=MONDAY, now=None):
    start, end = week_window(monday, "Europe/Helsinki")
    return kiosk_hours.offline_hours(units, start, end, "Europe/Helsinki", now=now or end + timedelta(days=1))


def test_a_tablet_heard_from_every_opening_hour_was_never_offline(make_unit):
    unit = make_unit("Health centre")
    seen_in_opening_hours(enrolled(unit))
    assert offline([unit]) == {unit.id: [{"device": "Reception", "offline_hours": 0, "opening_hours": 40}]}


def test_contact_counts_for_the_hour_it_falls_in_not_the_next(make_unit):
    unit = make_unit("Health centre")
    device = enrolled(unit)
    seen_in_opening_hours(device, skip={(0, 8), (2, 15)})
    device.mark_seen(local(0, 7, 59, 59))  # a second before opening: Monday 08–09 stays without contact
    device.mark_seen(local(2, 16, 0, 0))  # the second of closing: Wednesday 15–16 stays without contact
    device.mark_seen(local(3, 8, 0, 0))  # on the second of opening: counts for Thursday 08–09 (seen anyway)
    db.session.commit()
    [kiosk] = offline([unit])[unit.id]
    assert kiosk["offline_hours"] == 2


def test_one_contact_row_per_device_and_hour_however_often_it_calls(make_unit):
    unit = make_unit("Health centre")
    device = enrolled(unit)
    for second in range(0, 3600, 20):
        device.mark_seen(local(0, 9) + timedelta(seconds=second))
    device.last_seen_at = local(0, 8)  # another server recorded hour 08 already: the insert is a no-op
    device.mark_seen(local(0, 9, 30))
    db.session.commit()
    hours = db.session.execute(db.select(DeviceContact.hour).where(DeviceContact.device_id == device.id)).scalars()
    assert sorted(hours) == [local(-30, 9), local(0, 9)]


@pytest.mark.parametrize("monday, hours", [
    (date(2026, 3, 23), 5),  # Sunday 29 March: clocks go forward, 00–06 local is five hours
    (date(2026, 10, 19), 7),  # Sunday 25 October: clocks go back, 00–06 local is seven hours
])
def test_the_night_the_clocks_change_has_an_hour_less_or_more(make_unit, monday, hours):
    unit = make_unit("Night shelter")
    rule = alerts.rules_by_unit([unit], "kiosk_silent")[unit.id]
    rule.opening = {"days": [6], "start": "00:00", "end": "06:00"}
    enrolled(unit, at=datetime(2026, 1, 5, 9, tzinfo=UTC))
    assert offline([unit], monday) == {unit.id: [{"device": "Reception", "offline_hours": hours,
                                                  "opening_hours": hours}]}


def test_a_tablet_enrolled_mid_week_counts_from_the_next_whole_hour(make_unit):
    unit = make_unit("Health centre")
    enrolled(unit, "Old")  # the contact history began before the week
    newcomer = enrolled(unit, "Lobby", at=local(2, 10, 30))  # Wednesday 10:30, then silent
    found = {k["device"]: k for k in offline([unit])[unit.id]}
    # Wednesday 11–16, Thursday and Friday 08–16: 5 + 8 + 8.
    assert found["Lobby"]["offline_hours"] == found["Lobby"]["opening_hours"] == 21
    assert newcomer.status == "enrolled"


def test_a_revoked_tablet_counts_only_until_it_was_revoked(make_unit):
    unit = make_unit("Health centre")
    gone = enrolled(unit, "Gone")
    gone.revoked_at = local(-3, 12)  # revoked before the week: not in the digest at all
    halfway = enrolled(unit, "Halfway")
    halfway.revoked_at = local(1, 12, 30)  # Tuesday 12:30: Monday 08–16 and Tuesday 08–12 count
    db.session.commit()
    assert offline([unit])[unit.id] == [{"device": "Halfway", "offline_hours": 12, "opening_hours": 12}]


def test_hours_that_have_not_ended_are_not_counted(make_unit):
    unit = make_unit("Health centre")
    enrolled(unit)
    [kiosk] = offline([unit], now=local(2, 9, 59))[unit.id]  # Wednesday 09:59: Wednesday 08–09 has ended
    assert kiosk["offline_hours"] == 8 + 8 + 1


def test_nothing_is_said_before_any_contact_was_recorded(make_unit):
    """After the upgrade that brings the history, or after a purge of it, old weeks are not offline."""
    unit = make_unit("Health centre")
    device, _link = org.add_device(unit, "Reception")
    device.token_hash, device.enrolled_at = "token", local(-30, 9)
    db.session.commit()
    assert offline([unit]) == {}
    enrolled(make_unit("Elsewhere"), at=local(3, 8, 30))  # recording began Thursday 08:30
    [kiosk] = offline([unit])[unit.id]
    assert kiosk["opening_hours"] == 7 + 8  # Thursday 09–16 and Friday


def test_the_digest_says_it_in_one_sentence_in_json_text_and_page(runner, client, login_as, make_unit):
    unit = make_unit("Health centre", area="North")
    seen_in_opening_hours(enrolled(unit), skip={(0, 8), (0, 9), (1, 14), (3, 8), (3, 9), (4, 15)})
    sentence = "The tablet “Reception” was offline for 6 opening hours this week."

    result = runner.invoke(args=["digest", "--unit", unit.code, "--week", WEEK, "--json", "--lang", "en"])
    [entry] = json.loads(result.output)["units"]
    assert sentence in entry["notes"]
    assert entry["kiosk_offline"] == [{"device": "Reception", "offline_hours": 6, "opening_hours": 40}]
    assert sentence in runner.invoke(args=["digest", "--area", "North", "--week", WEEK, "--lang", "en"]).output
    finnish = runner.invoke(args=["digest", "--unit", unit.code, "--week", WEEK, "--lang", "fi"]).output
    assert "Tabletti ”Reception” oli poissa verkosta 6 aukiolotuntia tällä viikolla." in finnish

    login_as("director", ["North"])
    page = client.get(f"/manage/units/{unit.code}/digest?week={WEEK}&lang=en").get_data(as_text=True)
    assert sentence in page
    area_page = client.get(f"/manage/areas/{unit.area.code}/digest?week={WEEK}&lang=sv").get_data(as_text=True)
    assert "Surfplattan ”Reception” var utan nätförbindelse i 6 öppettimmar den här veckan." in area_page


def test_a_heartbeat_and_an_answer_record_contact(client, make_unit):
    unit = make_unit("Health centre")
    device, link = org.add_device(unit, "Reception")
    token = client.post("/api/v1/devices/enrol", json={"code": link.split("enrol=")[1]}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}

    def contact_rows():
        return db.session.execute(db.select(DeviceContact.device_id)).scalars().all()

    def last_heard_an_hour_ago():
        db.session.execute(db.delete(DeviceContact))
        db.session.execute(db.update(Device).values(last_seen_at=datetime.now(UTC) - timedelta(hours=1)))
        db.session.commit()

    last_heard_an_hour_ago()
    assert client.post("/api/v1/devices/heartbeat", json={"queued": 0}, headers=headers).status_code == 200
    assert contact_rows() == [device.id]
    last_heard_an_hour_ago()
    answer = {"id": str(uuid.uuid4()), "unit": unit.code, "score": 5}
    assert client.post("/api/v1/responses", json=answer, headers=headers).status_code == 201
    assert contact_rows() == [device.id]


def test_purge_deletes_contact_hours_with_the_answers(make_unit):
    unit = make_unit("Health centre")
    device = enrolled(unit, at=datetime(2024, 1, 8, 9, tzinfo=UTC))
    device.mark_seen(datetime(2026, 9, 1, 9, tzinfo=UTC))
    db.session.commit()
    counts = ops.purge(365, now=datetime(2026, 9, 2, tzinfo=UTC))
    assert counts["kiosk_contact_hours"] == 1
    assert db.session.execute(db.select(DeviceContact.hour)).scalars().all() == [datetime(2026, 9, 1, 9, tzinfo=UTC)]
    assert db.session.get(Device, device.id) is not None
